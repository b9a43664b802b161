// Injected faults on a real run, through the ftl executable: the file size limit hit while a
// checkpoint is written, checkpoints cut short at random offsets, and an output folder that
// cannot be made. Each must end in a clear error and a non-zero exit, never a crash, and must
// leave what was already written intact.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "ftl/checkpoint.h"
#include "ftl/config.h"
#include "ftl/trainer.h"
#include "support/fixtures.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

constexpr int kSide = ftl::testing::kShapesInputSide;
/// Exit statuses above this mean the shell saw the process die of a signal (a crash).
constexpr int kKilledBySignal = 128;

/// A one-epoch run on the shapes, its folder inside `dir`.
fs::path one_epoch_run(const ftl::testing::TempDir& dir) {
  ftl::testing::write_shapes(dir / "train", 4, kSide, 31);
  ftl::testing::write_shapes(dir / "val", 2, kSide, 32);
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "run");
  config.data.batch_size = 4;
  config.train.epochs = 1;
  return ftl::finetune(config, ftl::testing::quiet_logger()).run_dir;
}

std::string ftl_command(const std::string& arguments) {
  return shell_quote(ftl::testing::kFtlBinary) + " " + arguments + " 2>&1";
}

}  // namespace

TEST_CASE("faults: a checkpoint write over the file size limit keeps the last checkpoint",
          "[fault]") {
  ftl::testing::TempDir dir;
  const fs::path run = one_epoch_run(dir);
  const fs::path last = run / "checkpoints/last.pt";
  const std::string before = ftl::testing::read_file(last);
  REQUIRE(before.size() > 1024 * 1024);

  // Room for every small file, not for a checkpoint: the write fails part-way (EFBIG), as on
  // a disk that fills up. The shell's limit is in blocks of 1024 bytes.
  const std::size_t blocks = before.size() / 2 / 1024;
  const auto result = run_command("ulimit -f " + std::to_string(blocks) + " && " +
                                  ftl_command("finetune --resume " + shell_quote(run.string()) +
                                              " --set train.epochs=2"));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Contains("last.pt: write failed: File too large"));
  // The checkpoint of epoch 1 is untouched and loads; no temporary file is left.
  CHECK(ftl::testing::read_file(last) == before);
  CHECK(ftl::load_checkpoint(last, torch::Device(torch::kCPU)).metadata.epoch == 1);
  for (const auto& entry : fs::directory_iterator(run / "checkpoints")) {
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
  }
  // With room again, the run resumes from that checkpoint and finishes.
  const auto resumed = run_command(ftl_command("finetune --resume " + shell_quote(run.string()) +
                                               " --set train.epochs=2"));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK(ftl::load_checkpoint(last, torch::Device(torch::kCPU)).metadata.epoch == 2);
}

TEST_CASE("faults: a checkpoint cut short anywhere is a clear error for every command",
          "[fault]") {
  ftl::testing::TempDir dir;
  const fs::path run = one_epoch_run(dir);
  const std::string whole = ftl::testing::read_file(run / "checkpoints/last.pt");
  std::mt19937_64 random(20261128);
  std::uniform_int_distribution<std::size_t> offset(0, whole.size() - 1);
  constexpr int kCuts = 12;
  for (int i = 0; i < kCuts; ++i) {
    const std::size_t size = i == 0 ? 0 : offset(random);
    const fs::path cut = dir / ("cut_" + std::to_string(size) + ".pt");
    std::ofstream(cut, std::ios::binary) << whole.substr(0, size);
    INFO("cut at " << size << " of " << whole.size() << " bytes");
    for (const std::string& command :
         {"inspect " + shell_quote(cut.string()),
          "evaluate --checkpoint " + shell_quote(cut.string()) + " --data " +
              shell_quote((dir / "val").string()),
          "predict --checkpoint " + shell_quote(cut.string()) + " " +
              shell_quote((dir / "val").string())}) {
      const auto result = run_command(ftl_command(command));
      INFO(command << "\n" << result.output);
      CHECK(result.exit_code == 1);
      CHECK(result.exit_code < kKilledBySignal);
      CHECK_THAT(result.output, Contains(cut.string()));
    }
  }
  // A resume state cut short: --resume refuses it, naming last.pt, and leaves it as it is.
  std::ofstream(run / "checkpoints/last.pt", std::ios::binary)
      << whole.substr(0, whole.size() / 3);
  const auto resumed = run_command(ftl_command("finetune --resume " + shell_quote(run.string())));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 1);
  CHECK_THAT(resumed.output, Contains((run / "checkpoints/last.pt").string()));
  CHECK(ftl::testing::read_file(run / "checkpoints/last.pt").size() == whole.size() / 3);
}

TEST_CASE("faults: an output folder that cannot be made is an error before training",
          "[fault]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 2, kSide, 33);
  ftl::testing::write_shapes(dir / "val", 1, kSide, 34);
  std::ofstream(dir / "a_file") << "not a folder";
  const std::string run = (dir / "a_file/run").string();  // below a file: mkdir fails
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "unused");
  config.output.dir = run;
  std::ofstream(dir / "config.json") << ftl::config_to_json(config).dump();
  const auto result =
      run_command(ftl_command("finetune --config " + shell_quote((dir / "config.json").string())));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Contains(run));
  CHECK_THAT(result.output, !Contains("epoch 1"));
}
