// ftl export on a ResNet-18 checkpoint and a tiny one, through the executable: TorchScript that
// Python's torch.jit.load runs as ftl does, ONNX that onnx.checker passes and ONNX Runtime runs
// within 1e-4, the export taken by predict, evaluate and report, and each bad input refused with
// its exit code and nothing left behind.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ftl/model/checkpoint.h"
#include "support/fixtures.h"
#include "support/serve_harness.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::ftl_command;
using ftl::testing::quoted;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

constexpr std::int64_t kSide = 32;

// ftl export with `arguments`, its JSON answer on stdout (-q: warnings and errors only).
ftl::testing::CommandResult run_export(const std::string& arguments) {
  return run_command(ftl_command("-q export " + arguments));
}

nlohmann::json parsed(const ftl::testing::CommandResult& result) {
  INFO(result.output);
  return nlohmann::json::parse(result.output);
}

void write_floats(const fs::path& path, const torch::Tensor& values) {
  const torch::Tensor floats = values.to(torch::kFloat32).contiguous();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(floats.data_ptr<float>()),
             static_cast<std::streamsize>(floats.numel()) *
                 static_cast<std::streamsize>(sizeof(float)));
}

torch::Tensor read_floats(const fs::path& path, std::int64_t rows) {
  const std::string bytes = ftl::testing::read_file(path);
  torch::Tensor values = torch::empty({static_cast<std::int64_t>(bytes.size() / sizeof(float))});
  std::memcpy(values.data_ptr<float>(), bytes.data(), bytes.size());
  return values.reshape({rows, -1});
}

// Runs `script` (written to dir/name) under the fixtures' Python with `arguments` (quoted).
ftl::testing::CommandResult run_python(const fs::path& dir, const std::string& name,
                                       const std::string& script,
                                       const std::vector<fs::path>& arguments) {
  std::ofstream(dir / name) << script;
  std::string command = shell_quote(ftl::testing::kPython) + " " + quoted(dir / name);
  for (const fs::path& argument : arguments) command += " " + quoted(argument);
  return run_command(command + " 2>&1");
}

torch::Tensor ftl_probabilities(const fs::path& file, const torch::Tensor& images) {
  ftl::Checkpoint loaded = ftl::load_checkpoint(file, torch::kCPU);
  torch::NoGradGuard no_grad;
  return loaded.module.forward({images}).toTensor().softmax(1);
}

}  // namespace

TEST_CASE("export e2e: ResNet-18 as TorchScript answers in Python's torch.jit.load as in ftl",
          "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = ftl::testing::write_untrained_checkpoint(dir / "best.pt", kSide, 1);
  const auto result =
      run_export("--checkpoint " + quoted(checkpoint) + " --output " + quoted(dir / "net.pt"));
  REQUIRE(result.exit_code == 0);
  const nlohmann::json answer = parsed(result);
  CHECK(answer["written"] == true);
  CHECK(answer["format"] == "torchscript");
  CHECK(answer["parity"]["generated"]["images"] == 5);
  CHECK(answer["parity"]["generated"]["max_probability_difference"].get<double>() <= 1e-5);
  // No optimizer or resume state, fp32 weights: smaller than the checkpoint.
  CHECK(answer["bytes"].get<std::uint64_t>() < answer["checkpoint_bytes"].get<std::uint64_t>());

  const torch::Tensor images = torch::randn({3, 3, kSide, kSide});
  write_floats(dir / "images.bin", images);
  const std::string script =
      "import sys, torch\n"
      "net = torch.jit.load(sys.argv[1])\n"
      "x = torch.from_file(sys.argv[2], size=3 * 3 * 32 * 32, dtype=torch.float32)\n"
      "with torch.no_grad():\n"
      "    p = net(x.reshape(3, 3, 32, 32)).softmax(1)\n"
      "p.numpy().tofile(sys.argv[3])\n";
  const auto python = run_python(dir.path(), "run.py", script,
                                 {dir / "net.pt", dir / "images.bin", dir / "python.bin"});
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  const torch::Tensor in_python = read_floats(dir / "python.bin", 3);
  const torch::Tensor in_ftl = ftl_probabilities(dir / "net.pt", images);
  CHECK((in_python - in_ftl).abs().max().item<double>() <= 1e-6);
  CHECK((in_ftl - ftl_probabilities(checkpoint, images)).abs().max().item<double>() <= 1e-5);

  // bf16: within its bound, and half the weights' bytes.
  const auto bf16 = run_export("--checkpoint " + quoted(checkpoint) + " --output " +
                               quoted(dir / "net_bf16.pt") + " --precision bf16");
  REQUIRE(bf16.exit_code == 0);
  const nlohmann::json bf16_answer = parsed(bf16);
  CHECK(bf16_answer["precision"] == "bf16");
  CHECK(bf16_answer["parity"]["generated"]["max_probability_difference"].get<double>() <= 2e-2);
  CHECK(bf16_answer["bytes"].get<double>() < 0.6 * answer["bytes"].get<double>());
}

TEST_CASE("export e2e: predict and evaluate (and its page) take the export and answer alike",
          "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = ftl::testing::write_untrained_checkpoint(dir / "best.pt", kSide, 2);
  REQUIRE(run_export("--checkpoint " + quoted(checkpoint) + " --output " + quoted(dir / "net.pt"))
              .exit_code == 0);
  ftl::testing::write_shapes(dir / "data", /*per_class=*/3, kSide, /*seed=*/4);
  auto evaluate = [&](const fs::path& file) {
    const auto run = run_command(ftl_command("-q evaluate --checkpoint " + quoted(file) +
                                             " --data " + quoted(dir / "data") + " --threads 2"));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    return nlohmann::json::parse(run.output);
  };
  const nlohmann::json a = evaluate(checkpoint);
  const nlohmann::json b = evaluate(dir / "net.pt");
  CHECK(b["accuracy"] == a["accuracy"]);
  CHECK(b["loss"].get<double>() == Approx(a["loss"].get<double>()).margin(1e-5));
  CHECK(b["confusion_matrix"] == a["confusion_matrix"]);

  auto predict = [&](const fs::path& file) {
    const auto run = run_command(ftl_command("-q predict --checkpoint " + quoted(file) +
                                             " --top-k 3 " + quoted(dir / "data")));
    REQUIRE(run.exit_code == 0);
    std::vector<nlohmann::json> records;
    std::istringstream lines(run.output);
    for (std::string line; std::getline(lines, line);)
      records.push_back(nlohmann::json::parse(line));
    return records;
  };
  const std::vector<nlohmann::json> p = predict(checkpoint);
  const std::vector<nlohmann::json> q = predict(dir / "net.pt");
  REQUIRE(p.size() == 9);
  REQUIRE(q.size() == p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    for (std::size_t k = 0; k < 3; ++k) {
      CHECK(q[i]["top"][k]["class"] == p[i]["top"][k]["class"]);
      CHECK(q[i]["top"][k]["probability"].get<double>() ==
            Approx(p[i]["top"][k]["probability"].get<double>()).margin(1e-5));
    }
  }
  // ftl report takes run folders; evaluate --report writes the same evaluation page.
  const auto report =
      run_command(ftl_command("-q evaluate --checkpoint " + quoted(dir / "net.pt") + " --data " +
                              quoted(dir / "data") + " --report " + quoted(dir / "report.html")));
  INFO(report.output);
  CHECK(report.exit_code == 0);
  CHECK(fs::file_size(dir / "report.html") > 0);
}

TEST_CASE("export e2e: ResNet-18 as ONNX passes onnx.checker and ONNX Runtime's parity",
          "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = ftl::testing::write_untrained_checkpoint(dir / "best.pt", kSide, 3);
  ftl::testing::write_shapes(dir / "data", /*per_class=*/2, kSide, /*seed=*/6);
  const auto result =
      run_export("--checkpoint " + quoted(checkpoint) + " --output " + quoted(dir / "net.onnx") +
                 " --check-data " + quoted(dir / "data"));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const nlohmann::json answer = parsed(result);
  CHECK(answer["format"] == "onnx");
  CHECK(answer["batch"] == "dynamic");
  // ONNX Runtime on a batch of 2 and a batch of 3: two sizes through the dynamic axis.
  CHECK(answer["parity"]["generated"]["images"] == 5);
  CHECK(answer["parity"]["generated"]["max_probability_difference"].get<double>() <= 1e-4);
  CHECK(answer["parity"]["check_data"]["images"] == 6);
  CHECK(answer["parity"]["check_data"]["passed"] == true);

  const auto fixed = run_export("--checkpoint " + quoted(checkpoint) + " --output " +
                                quoted(dir / "net4.onnx") + " --batch 4");
  REQUIRE(fixed.exit_code == 0);
  CHECK(parsed(fixed)["parity"]["generated"]["images"] == 8);
  CHECK(ftl::testing::files_in(dir.path()) ==
        std::vector<std::string>{"best.pt", "data", "net.onnx", "net4.onnx"});

  const std::string script =
      "import json, sys, onnx\n"
      "for path in sys.argv[1:]:\n"
      "    model = onnx.load(path)\n"
      "    onnx.checker.check_model(model, full_check=True)\n"
      "    props = {p.key: p.value for p in model.metadata_props}\n"
      "    dim = model.graph.input[0].type.tensor_type.shape.dim[0]\n"
      "    print(json.dumps({'opset': model.opset_import[0].version,\n"
      "                      'classes': json.loads(props['classes']),\n"
      "                      'export': json.loads(props['ftl.json'])['export'],\n"
      "                      'batch': dim.dim_param or dim.dim_value}))\n";
  const auto python =
      run_python(dir.path(), "check.py", script, {dir / "net.onnx", dir / "net4.onnx"});
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  std::istringstream lines(python.output);
  std::string line;
  REQUIRE(std::getline(lines, line));
  const nlohmann::json dynamic = nlohmann::json::parse(line);
  CHECK(dynamic["opset"] == 17);
  CHECK(dynamic["classes"] == nlohmann::json(ftl::testing::kShapeClasses));
  CHECK(dynamic["export"]["format"] == "onnx");
  CHECK(dynamic["export"]["source_sha256"] == answer["checkpoint_sha256"]);
  CHECK(dynamic["batch"] == "batch");
  REQUIRE(std::getline(lines, line));
  CHECK(nlohmann::json::parse(line)["batch"] == 4);
}

TEST_CASE("export e2e: a tiny network exports in both formats", "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = ftl::testing::write_tiny_checkpoint(dir / "best.pt", 5);
  for (const char* name : {"tiny.pt", "tiny.onnx"}) {
    const auto result =
        run_export("--checkpoint " + quoted(checkpoint) + " --output " + quoted(dir / name));
    INFO(name);
    REQUIRE(result.exit_code == 0);
    CHECK(parsed(result)["parity"]["generated"]["passed"] == true);
  }
}

TEST_CASE("export e2e: bad input gets its exit code and leaves nothing behind", "[export]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = ftl::testing::write_tiny_checkpoint(dir / "best.pt", 6);
  const std::string from = "--checkpoint " + quoted(checkpoint) + " --output ";
  const std::vector<std::string> before = {"best.pt"};

  SECTION("a damaged checkpoint: exit 1, naming the file and the entry") {
    // ResNet-18's: the middle of its file lies inside a convolution's weights.
    const fs::path resnet = ftl::testing::write_untrained_checkpoint(dir / "resnet.pt", kSide, 7);
    std::string bytes = ftl::testing::read_file(resnet);
    fs::remove(resnet);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
    std::ofstream(dir / "damaged.pt", std::ios::binary) << bytes;
    const auto result = run_export("--checkpoint " + quoted(dir / "damaged.pt") + " --output " +
                                   quoted(dir / "net.pt"));
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains((dir / "damaged.pt").string() + ": damaged file: entry '"));
    CHECK_FALSE(fs::exists(dir / "net.pt"));
  }
  SECTION("an output folder that cannot be written: exit 1") {
    std::ofstream(dir / "file") << "x";
    const auto result = run_export(from + quoted(dir / "file" / "net.pt"));
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains((dir / "file" / "net.pt").string() + ": cannot write: " +
                                       (dir / "file").string() + " is not a folder"));
    fs::remove(dir / "file");
    CHECK(ftl::testing::files_in(dir.path()) == before);
    // A folder that refuses new files, even to root.
    const auto refused = run_export(from + "/proc/ftl_export_test.pt");
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.output, Contains("/proc/ftl_export_test.pt"));
  }
  SECTION("an existing output without --overwrite: exit 2, the file kept") {
    std::ofstream(dir / "net.pt") << "keep";
    const auto result = run_export(from + quoted(dir / "net.pt"));
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.output, Contains((dir / "net.pt").string() +
                                       ": already exists; pass --overwrite to replace it"));
    CHECK(ftl::testing::read_file(dir / "net.pt") == "keep");
  }
  SECTION("a batch that is neither a number nor dynamic, a format of no extension: exit 2") {
    const auto batch = run_export(from + quoted(dir / "net.onnx") + " --batch 0");
    CHECK(batch.exit_code == 2);
    CHECK_THAT(batch.output, Contains("--batch 0: expected a number >= 1 or \"dynamic\""));
    const auto unknown = run_export(from + quoted(dir / "net.bin"));
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.output, Contains("the format cannot be told from the extension"));
    CHECK(ftl::testing::files_in(dir.path()) == before);
  }
  SECTION("no Python: exit 2, naming it and what to install") {
    const auto result = run_export(from + quoted(dir / "net.onnx") + " --python /nonexistent/py");
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.output, Contains("Python /nonexistent/py cannot be run") &&
                                  Contains("python3-torch python3-onnx"));
    CHECK(ftl::testing::files_in(dir.path()) == before);
  }
  SECTION("no Node.js or no ONNX Runtime: exit 2, naming what to install") {
    const auto no_node = run_export(from + quoted(dir / "net.onnx") + " --node /nonexistent/node");
    CHECK(no_node.exit_code == 2);
    CHECK_THAT(no_node.output, Contains("Node.js /nonexistent/node cannot be run"));
    CHECK(ftl::testing::files_in(dir.path()) == before);
    // The project's scripts without node_modules: as before scripts/setup.sh ran.
    fs::create_directories(dir / "tools");
    for (const char* script : {"export_onnx.py", "run_onnx.js"}) {
      fs::copy_file(fs::path(ftl::testing::kSourceDir) / "scripts/onnx" / script,
                    dir / "tools" / script);
    }
    const auto no_runtime =
        run_export(from + quoted(dir / "net.onnx") + " --onnx-tools " + quoted(dir / "tools"));
    CHECK(no_runtime.exit_code == 2);
    CHECK_THAT(no_runtime.output,
               Contains("onnxruntime-node is not installed") && Contains("scripts/setup.sh"));
    CHECK_FALSE(fs::exists(dir / "net.onnx"));
    CHECK(ftl::testing::files_in(dir / "tools") ==
          std::vector<std::string>{"export_onnx.py", "run_onnx.js"});
  }
  SECTION("answers beyond the bound: exit 3 and no file") {
    // A runtime that answers zeros for every output: the parity check must catch it.
    fs::create_directories(dir / "tools");
    fs::copy_file(fs::path(ftl::testing::kSourceDir) / "scripts/onnx/export_onnx.py",
                  dir / "tools/export_onnx.py");
    std::ofstream(dir / "tools/run_onnx.js")
        << "const [, , , , shapes, output] = process.argv;\n"
           "const rows = shapes.split(';').map((s) => Number(s.split(',')[0]))\n"
           "  .reduce((x, y) => x + y, 0);\n"
           "require('fs').writeFileSync(output, Buffer.alloc(rows * 3 * 4));\n";
    const auto result =
        run_export(from + quoted(dir / "net.onnx") + " --onnx-tools " + quoted(dir / "tools"));
    CHECK(result.exit_code == 3);
    CHECK_THAT(result.output, Contains("\"passed\": false") &&
                                  Contains("not written: the exported network's probabilities "
                                           "differ from"));
    CHECK(ftl::testing::files_in(dir.path()) == std::vector<std::string>{"best.pt", "tools"});
  }
}
