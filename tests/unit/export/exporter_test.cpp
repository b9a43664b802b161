// ftl export without Python: a tiny network's checkpoint written as frozen TorchScript, in fp32
// and bf16, checked against the checkpoint; the options refused before anything is written; and
// what the written file is (no parameters, its metadata, refused by fine-tuning).
#include "ftl/export/exporter.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/export/export_network.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/model.h"
#include "ftl/util/errors.h"
#include "support/common.h"
#include "support/temp_dir.h"
#include "support/tiny_net.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

constexpr std::int64_t kClasses = 3;

fs::path write_tiny_checkpoint(const fs::path& path) {
  ftl::CheckpointMetadata metadata;
  metadata.classes = {"a", "b", "c"};
  metadata.preprocess.image_size = ftl::testing::kTinyNetSide;
  torch::jit::Module net = ftl::testing::tiny_net(kClasses, /*seed=*/3);
  // Running statistics other than (0, 1), so that folding them is not a no-op.
  net.attr("bn1").toModule().register_buffer("running_mean", torch::full({6}, 0.3));
  net.attr("bn1").toModule().register_buffer("running_var", torch::full({6}, 2.0));
  ftl::save_checkpoint(net, metadata, path);
  return path;
}

ftl::ExportOptions options_for(const fs::path& checkpoint, const fs::path& output) {
  ftl::ExportOptions options;
  options.checkpoint = checkpoint;
  options.output = output;
  options.threads = 1;
  return options;
}

}  // namespace

TEST_CASE("export: a frozen TorchScript network answers as its checkpoint", "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_tiny_checkpoint(dir / "best.pt");
  const ftl::ExportResult result =
      ftl::export_model(options_for(checkpoint, dir / "net.pt"), ftl::testing::quiet_logger());
  REQUIRE(result.written);
  CHECK(result.format == ftl::ExportFormat::kTorchScript);
  CHECK(result.generated.images == 5);
  CHECK(result.generated.max_difference <= 1e-5);
  CHECK(result.bytes == fs::file_size(dir / "net.pt"));
  CHECK(ftl::testing::files_in(dir.path()) == std::vector<std::string>{"best.pt", "net.pt"});

  // It loads as a checkpoint does, frozen: no parameters, the metadata saying what it is.
  const ftl::Checkpoint exported = ftl::load_checkpoint(dir / "net.pt", torch::kCPU);
  CHECK(exported.module.parameters().size() == 0);
  CHECK(exported.metadata.classes == std::vector<std::string>{"a", "b", "c"});
  CHECK(exported.metadata.exported.at("format") == "torchscript");
  CHECK(exported.metadata.exported.at("precision") == "fp32");
  CHECK(exported.metadata.exported.at("batch") == "dynamic");
  CHECK(exported.metadata.exported.at("head") == "fc");
  CHECK(exported.metadata.exported.at("source_sha256") == result.checkpoint_sha256);
  CHECK(exported.metadata.exported.at("source_checkpoint") == checkpoint.string());
  const ftl::Checkpoint original = ftl::load_checkpoint(checkpoint, torch::kCPU);
  const torch::Tensor images = torch::randn({4, 3, 8, 8});
  torch::jit::Module a = original.module;
  torch::jit::Module b = exported.module;
  torch::NoGradGuard no_grad;
  CHECK(
      torch::allclose(b.forward({images}).toTensor(), a.forward({images}).toTensor(), 1e-5, 1e-6));

  // Fine-tuning it is refused, naming the checkpoint to fine-tune instead.
  REQUIRE_THROWS_WITH(
      ftl::load_model((dir / "net.pt").string(), torch::kCPU),
      (dir / "net.pt").string() +
          ": a network written by ftl export for inference: its weights are constants, so it "
          "has no trainable parameters; fine-tune the checkpoint it was exported from (" +
          checkpoint.string() + ")");
  // Exporting it again too.
  ftl::ExportOptions again = options_for(dir / "net.pt", dir / "again.pt");
  REQUIRE_THROWS_WITH(ftl::export_model(again, ftl::testing::quiet_logger()),
                      Contains("already a network written by ftl export"));
  CHECK_FALSE(fs::exists(dir / "again.pt"));
}

TEST_CASE("export: bf16 weights behind float32 inputs and outputs", "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_tiny_checkpoint(dir / "best.pt");
  ftl::ExportOptions options = options_for(checkpoint, dir / "net_bf16.pt");
  options.precision = ftl::Precision::kBf16;
  const ftl::ExportResult result = ftl::export_model(options, ftl::testing::quiet_logger());
  REQUIRE(result.written);
  CHECK(result.generated.max_difference <= 2e-2);
  CHECK(result.generated.agreement >= 0.99);
  const ftl::Checkpoint exported = ftl::load_checkpoint(dir / "net_bf16.pt", torch::kCPU);
  CHECK(exported.metadata.exported.at("precision") == "bf16");
  torch::jit::Module module = exported.module;
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = module.forward({torch::randn({2, 3, 8, 8})}).toTensor();
  CHECK(logits.scalar_type() == torch::kFloat32);
  CHECK(logits.sizes() == torch::IntArrayRef({2, kClasses}));
}

TEST_CASE("export: options refused before anything is written", "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_tiny_checkpoint(dir / "best.pt");
  spdlog::logger& log = ftl::testing::quiet_logger();

  ftl::ExportOptions unknown = options_for(checkpoint, dir / "net.bin");
  REQUIRE_THROWS_WITH(ftl::export_model(unknown, log),
                      (dir / "net.bin").string() +
                          ": the format cannot be told from the extension (.pt: TorchScript, "
                          ".onnx: ONNX); name the format");
  ftl::ExportOptions contradicted = options_for(checkpoint, dir / "net.pt");
  contradicted.format = ftl::ExportFormat::kOnnx;
  REQUIRE_THROWS_WITH(
      ftl::export_model(contradicted, log),
      "format onnx: the output " + (dir / "net.pt").string() + " is named as a torchscript file");
  ftl::ExportOptions bf16_onnx = options_for(checkpoint, dir / "net.onnx");
  bf16_onnx.precision = ftl::Precision::kBf16;
  REQUIRE_THROWS_AS(ftl::export_model(bf16_onnx, log), ftl::ConfigError);
  REQUIRE_THROWS_WITH(ftl::export_model(bf16_onnx, log),
                      Contains("precision bf16: an ONNX export is fp32 only"));
  ftl::ExportOptions fixed = options_for(checkpoint, dir / "net.pt");
  fixed.batch = 4;
  REQUIRE_THROWS_WITH(ftl::export_model(fixed, log),
                      "batch 4: a TorchScript export takes any batch; a fixed batch axis is an "
                      "ONNX setting");
  ftl::ExportOptions no_folder = options_for(checkpoint, dir / "gone" / "net.pt");
  REQUIRE_THROWS_AS(ftl::export_model(no_folder, log), ftl::IoError);
  REQUIRE_THROWS_WITH(ftl::export_model(no_folder, log),
                      (dir / "gone" / "net.pt").string() +
                          ": cannot write: " + (dir / "gone").string() + ": no such folder");
  ftl::ExportOptions missing = options_for(dir / "nothing.pt", dir / "net.pt");
  REQUIRE_THROWS_WITH(ftl::export_model(missing, log),
                      (dir / "nothing.pt").string() + ": no such checkpoint file");

  std::ofstream(dir / "net.pt") << "keep me";
  ftl::ExportOptions existing = options_for(checkpoint, dir / "net.pt");
  try {
    ftl::export_model(existing, log);
    FAIL("an existing output was replaced without overwrite");
  } catch (const ftl::ConfigError& error) {
    CHECK(std::string(error.what()) == (dir / "net.pt").string() + ": already exists");
    CHECK(error.choice() == ftl::Choice::kOverwriteOutput);
  }
  CHECK(ftl::testing::read_file(dir / "net.pt") == "keep me");
  CHECK(ftl::testing::files_in(dir.path()) == std::vector<std::string>{"best.pt", "net.pt"});
  existing.overwrite = true;
  CHECK(ftl::export_model(existing, log).written);
  CHECK(ftl::load_checkpoint(dir / "net.pt", torch::kCPU).metadata.exported.is_object());
}

TEST_CASE("export: the network is frozen from an eval-mode copy, the source left as it was",
          "[export]") {
  torch::jit::Module net("__torch__.Uses");
  ftl::testing::with_training_flag(net);
  net.register_parameter("weight", torch::randn({2, 2}), false);
  net.define("def forward(self, x):\n  return torch.matmul(x, self.weight)\n");
  net.train();  // LibTorch freezes only a module in eval mode: the copy is set to it
  const torch::jit::Module frozen = ftl::export_network(net, ftl::Precision::kFp32);
  CHECK(frozen.parameters().size() == 0);
  CHECK(net.is_training());  // the source is left as it was
}
