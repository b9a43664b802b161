// End to end: ftl lr-find on tiny generated shapes: its JSON, its files, the same bytes twice,
// a run folder left alone, and the exact errors of bad flags.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/train/trainer.h"
#include "support/common.h"
#include "support/fixtures.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

constexpr int kLrFindSide = 16;      // pixels: the test is about the command, not the accuracy
constexpr int kLrFindPerClass = 8;   // 24 training images: 3 batches of 8, so 12 steps span 4
constexpr int kLrFindSteps = 12;     // epochs
constexpr int kLrFindBatchSize = 8;  // images per batch

// Tiny shapes in dir/train and dir/val, and dir/run.json for them without output.dir (which
// lr-find does not need), or with `output_dir` when given.
std::string write_lr_find_config(const ftl::testing::TempDir& dir, const std::string& output_dir) {
  if (!fs::exists(dir / "train")) {
    ftl::testing::write_shapes_data(dir.path(), kLrFindPerClass, /*val_per_class=*/2, 7,
                                    kLrFindSide);
  }
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "unused");
  config.data.preprocess.image_size = kLrFindSide;
  config.data.batch_size = kLrFindBatchSize;
  config.data.workers = 1;
  config.train.epochs = 1;
  config.output.dir = output_dir;
  nlohmann::json json = ftl::config_to_json(config);
  if (output_dir.empty()) json.erase("output");
  return ftl::testing::write_config(dir / "run.json", json).string();
}

// `ftl lr-find` with `arguments`: stdout alone when `quiet_log`, else stderr too.
ftl::testing::CommandResult run_lr_find(const std::string& config, const std::string& arguments,
                                        bool quiet_log = false) {
  const std::string command = "lr-find --config " + shell_quote(config) + " " + arguments;
  if (!quiet_log) return run_command(ftl::testing::ftl_command(command));
  return run_command(shell_quote(ftl::testing::kFtlBinary) + " " + command + " 2>/dev/null");
}

// Every file below `dir` with its bytes.
std::map<std::string, std::string> snapshot_lr_find_folder(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[entry.path().string()] = ftl::testing::read_file(entry);
  }
  return files;
}

}  // namespace

TEST_CASE("lr-find: prints its suggestions, the same bytes twice, and writes the curve",
          "[e2e][lr_find]") {
  ftl::testing::TempDir dir;
  const std::string config = write_lr_find_config(dir, "");
  const std::string prefix = (dir / "curve").string();
  const std::string arguments =
      "--steps " + std::to_string(kLrFindSteps) + " --output-prefix " + shell_quote(prefix);
  const auto first = run_lr_find(config, arguments, /*quiet_log=*/true);
  REQUIRE(first.exit_code == 0);
  const auto summary = nlohmann::ordered_json::parse(first.output);
  std::vector<std::string> keys;
  for (const auto& item : summary.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"steep", "steep_loss", "valley", "valley_loss", "steps",
                                         "steps_requested", "start_lr", "end_lr", "last_lr",
                                         "stopped_early", "stop_reason", "stop_message", "csv",
                                         "svg"});
  CHECK(summary["steps_requested"] == kLrFindSteps);
  const auto steps = summary["steps"].get<int>();
  CHECK(steps >= 1);
  CHECK(steps <= kLrFindSteps);
  CHECK(summary["start_lr"] == 1e-7);
  CHECK(summary["end_lr"] == 10.0);
  CHECK(summary["stopped_early"] == (steps < kLrFindSteps));
  const std::string reason = summary["stop_reason"];
  CHECK((reason == "completed" || reason == "diverged" || reason == "non_finite"));
  CHECK(summary["csv"] == prefix + ".csv");
  CHECK(summary["svg"] == prefix + ".svg");
  // With 8 or more points, 2 or more remain once the first and the last 5 are skipped.
  if (steps >= 8) {
    for (const char* name : {"steep", "valley"}) {
      const double lr = summary[name];
      CHECK(lr >= 1e-7);
      CHECK(lr <= 10);
      CHECK(summary[std::string(name) + "_loss"].is_number());
    }
  }

  const std::string csv = ftl::testing::read_file(prefix + ".csv");
  CHECK(csv.rfind("step,lr,loss,smoothed_loss\n1,1e-07,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == steps + 1);
  const std::string svg = ftl::testing::read_file(prefix + ".svg");
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK_THAT(svg, Contains("smoothed loss") && Contains("steep") && Contains("valley"));
  CHECK_FALSE(fs::exists(dir / "unused"));

  // Deterministic: a second test prints the same bytes and writes the same curve.
  const auto second = run_lr_find(config, arguments, /*quiet_log=*/true);
  REQUIRE(second.exit_code == 0);
  CHECK(second.output == first.output);
  CHECK(ftl::testing::read_file(prefix + ".csv") == csv);
  CHECK(ftl::testing::read_file(prefix + ".svg") == svg);
  // Only the two files: no temporary left beside them.
  std::vector<std::string> written;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.is_regular_file()) written.push_back(entry.path().filename().string());
  }
  std::sort(written.begin(), written.end());
  CHECK(written == std::vector<std::string>{"curve.csv", "curve.svg", "run.json"});
}

TEST_CASE("lr-find: leaves output.dir alone, whether it holds a run or does not exist",
          "[e2e][lr_find]") {
  ftl::testing::TempDir dir;
  const fs::path run_dir = dir / "run";
  write_lr_find_config(dir, run_dir.string());
  ftl::finetune(ftl::load_config_file((dir / "run.json").string()), ftl::testing::quiet_logger());
  const auto before = snapshot_lr_find_folder(run_dir);
  REQUIRE(before.count((run_dir / "checkpoints/last.pt").string()) == 1);

  const std::string config = write_lr_find_config(dir, run_dir.string());
  const std::string prefix = shell_quote((dir / "lr").string());
  // Through --set as finetune takes it: two batches to a step.
  const auto result =
      run_lr_find(config, "--steps 10 --set train.accumulate_steps=2 --output-prefix " + prefix);
  REQUIRE(result.exit_code == 0);
  CHECK(snapshot_lr_find_folder(run_dir) == before);

  const std::string elsewhere = write_lr_find_config(dir, (dir / "new_run").string());
  REQUIRE(run_lr_find(elsewhere, "--steps 10 --output-prefix " + prefix).exit_code == 0);
  CHECK_FALSE(fs::exists(dir / "new_run"));
}

TEST_CASE("lr-find: bad flags exit 2 naming the flag, a missing output folder exits 1",
          "[e2e][lr_find]") {
  ftl::testing::TempDir dir;
  const std::string config = write_lr_find_config(dir, "");
  const std::string prefix = " --output-prefix " + shell_quote((dir / "lr").string());
  const std::vector<std::pair<std::string, std::string>> usage = {
      {"--start 0", "--start must be a finite number > 0, got 0"},
      {"--end=-1", "--end must be a finite number > 0, got -1"},
      {"--end inf", "--end must be a finite number > 0, got inf"},
      {"--start 1 --end 0.1",
       "--start 1 must be below --end 0.1: the lr grows from one to the "
       "other"},
      {"--start 0.5 --end 0.5", "--start 0.5 must be below --end 0.5"},
      {"--steps 9",
       "--steps must be >= 10 (the suggestions skip the first steps/10 and the last 5 points), "
       "got 9"},
      {"--steps 0", "--steps must be >= 10"},
      {"--set train.epochs=0", "train.epochs must be in [1, 1000000], got 0"},
      {"--set optimizer.lrr=1", "optimizer.lrr is not a known key"},
  };
  for (const auto& [arguments, message] : usage) {
    INFO(arguments);
    const auto result = run_lr_find(config, arguments + prefix);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.output, Contains(message));
  }
  const auto folder_prefix =
      run_lr_find(config, "--output-prefix " + shell_quote(dir.path().string() + "/"));
  CHECK(folder_prefix.exit_code == 2);
  CHECK_THAT(folder_prefix.output,
             Contains("--output-prefix must end in a file name (PREFIX.csv, PREFIX.svg), got \"" +
                      dir.path().string() + "/\""));
  const auto no_config = run_command(
      ftl::testing::ftl_command("lr-find --config " + shell_quote((dir / "none.json").string())));
  CHECK(no_config.exit_code == 2);
  CHECK_THAT(no_config.output, Contains("none.json"));

  const fs::path missing = dir / "missing";
  const auto no_folder =
      run_lr_find(config, "--output-prefix " + shell_quote((missing / "lr").string()));
  CHECK(no_folder.exit_code == 1);
  CHECK_THAT(no_folder.output, Contains(missing.string() + ": no such folder (--output-prefix " +
                                        (missing / "lr").string() + ")"));
  CHECK_FALSE(fs::exists(missing));
  CHECK_FALSE(fs::exists(dir / "lr.csv"));
  CHECK_FALSE(fs::exists(dir / "lr.svg"));
}
