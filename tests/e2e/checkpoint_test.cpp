// Checkpoints of the ResNet-18 fixture: saved and loaded whole, a full disk, truncated, foreign
// and mismatched files, and a flipped bit caught by a CRC-32.
#include "ftl/model/checkpoint.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>

#include "ftl/model/model.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/samples.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using ftl::testing::read_file;
using ftl::testing::sample_metadata;

namespace {

// The ResNet-18 fixture with a 3-class head, as finetune prepares it.
ftl::LoadedModel three_class_model() {
  ftl::LoadedModel loaded = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  ftl::replace_head(loaded.module, loaded.head, 3, 1);
  return loaded;
}

// The 3-class network with sample_metadata(), saved to `path`; returns the file's bytes.
std::string write_sample_checkpoint(const fs::path& path) {
  ftl::LoadedModel loaded = three_class_model();
  ftl::save_checkpoint(loaded.module, sample_metadata(), path);
  return read_file(path);
}

}  // namespace

TEST_CASE("checkpoint: save then load keeps the network and the metadata", "[checkpoint]") {
  ftl::testing::TempDir dir;
  ftl::LoadedModel loaded = three_class_model();
  loaded.module.eval();
  const fs::path path = dir / "best.pt";
  ftl::save_checkpoint(loaded.module, sample_metadata(), path);
  // No temporary file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

  const ftl::Checkpoint checkpoint = ftl::load_checkpoint(path, torch::kCPU);
  CHECK(checkpoint.metadata.classes == std::vector<std::string>{"cat", "dog", "emu"});
  CHECK(checkpoint.metadata.preprocess.image_size == 32);
  CHECK(checkpoint.metadata.epoch == 2);
  CHECK(checkpoint.metadata.metrics["val_acc"] == 0.5);
  const auto input = torch::randn({2, 3, 32, 32});
  torch::jit::Module original = loaded.module;
  torch::jit::Module reloaded = checkpoint.module;
  CHECK(
      torch::allclose(original.forward({input}).toTensor(), reloaded.forward({input}).toTensor()));
}

TEST_CASE("checkpoint: a full disk fails the save and keeps the previous checkpoint",
          "[checkpoint]") {
  ftl::testing::TempDir dir;
  ftl::LoadedModel loaded = three_class_model();
  const fs::path path = dir / "last.pt";
  ftl::save_checkpoint(loaded.module, sample_metadata(), path);
  const std::string before = read_file(path);

  // A file-size limit makes write() fail with EFBIG, as a full disk fails it with ENOSPC.
  constexpr rlim_t kLimit = 1 << 20;
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = kLimit;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  ftl::CheckpointMetadata next = sample_metadata();
  next.epoch = 3;
  std::string error;
  try {
    ftl::save_checkpoint(loaded.module, next, path);
  } catch (const ftl::IoError& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);

  CHECK_THAT(error, Contains(path.string()) && Contains("write failed: File too large"));
  CHECK(read_file(path) == before);
  CHECK(ftl::load_checkpoint(path, torch::kCPU).metadata.epoch == 2);
  // The temporary file was removed.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("checkpoint: truncated, foreign and mismatched files are refused", "[checkpoint]") {
  ftl::testing::TempDir dir;
  ftl::LoadedModel loaded = three_class_model();
  const fs::path good = dir / "good.pt";
  ftl::save_checkpoint(loaded.module, sample_metadata(), good);
  const std::string bytes = read_file(good);

  const fs::path truncated = dir / "truncated.pt";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  REQUIRE_THROWS_WITH(ftl::load_checkpoint(truncated, torch::kCPU),
                      Contains(truncated.string() + ": damaged file: not a readable zip archive"));

  REQUIRE_THROWS_WITH(ftl::load_checkpoint(ftl::testing::kResNet18, torch::kCPU),
                      Contains("not an ftl checkpoint (no ftl.json inside)"));
  REQUIRE_THROWS_WITH(ftl::load_checkpoint(dir / "none.pt", torch::kCPU),
                      (dir / "none.pt").string() + ": no such checkpoint file");

  ftl::CheckpointMetadata wrong = sample_metadata();
  wrong.classes = {"a", "b"};
  const fs::path mismatched = dir / "mismatched.pt";
  ftl::save_checkpoint(loaded.module, wrong, mismatched);
  REQUIRE_THROWS_WITH(ftl::load_checkpoint(mismatched, torch::kCPU),
                      Contains("fc outputs do not match the 2 classes"));
}

TEST_CASE("checkpoint: a flipped bit in the weights or the metadata is caught by its CRC-32",
          "[checkpoint][fault]") {
  ftl::testing::TempDir dir;
  const fs::path good = dir / "good.pt";
  const std::string bytes = write_sample_checkpoint(good);
  REQUIRE(ftl::load_checkpoint(good, torch::kCPU).metadata.classes.size() == 3);

  // The middle of the file is inside a convolution's weights; "emu" is a class name in the
  // metadata. LibTorch's reader alone would load both and run them.
  const std::size_t in_weights = bytes.size() / 2;
  const std::size_t emu = bytes.find("\"emu\"");
  REQUIRE(emu != std::string::npos);
  const std::size_t in_metadata = emu + 2;  // 'm' becomes 'i': still valid JSON
  for (const std::size_t offset : {in_weights, in_metadata}) {
    std::string flipped = bytes;
    flipped[offset] = static_cast<char>(flipped[offset] ^ 0x04);
    const fs::path path = dir / ("flipped_" + std::to_string(offset) + ".pt");
    std::ofstream(path, std::ios::binary) << flipped;
    INFO("bit flipped at " << offset);
    REQUIRE_THROWS_AS(ftl::load_checkpoint(path, torch::kCPU), ftl::ModelError);
    REQUIRE_THROWS_WITH(
        ftl::load_checkpoint(path, torch::kCPU),
        Contains(path.string() + ": damaged file: entry '") && Contains("CRC error"));
  }
  // The same check guards the model a run starts from.
  std::string model = read_file(ftl::testing::kResNet18);
  model[model.size() / 2] = static_cast<char>(model[model.size() / 2] ^ 0x01);
  const fs::path model_path = dir / "flipped_model.pt";
  std::ofstream(model_path, std::ios::binary) << model;
  REQUIRE_THROWS_WITH(ftl::load_model(model_path.string(), torch::kCPU),
                      Contains(model_path.string() + ": damaged file: entry '") &&
                          Contains("/data/") && Contains("CRC error"));
}
