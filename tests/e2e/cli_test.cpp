// The ftl executable: documented exit codes and one-line errors for bad input.
#include <torch/cuda.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::ftl_command;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

// dir/run.json: a config with every required key, pointing at folders under dir, and `extra`'s
// keys besides.
std::string write_run_config(const ftl::testing::TempDir& dir, const nlohmann::json& extra) {
  nlohmann::json config = {
      {"model", {{"path", ftl::testing::kResNet18}}},
      {"data",
       {{"train", (dir / "train").string()}, {"val", (dir / "val").string()}, {"image_size", 16}}},
      {"output", {{"dir", (dir / "run").string()}}}};
  config.update(extra);
  return ftl::testing::write_config(dir / "run.json", config).string();
}

}  // namespace

TEST_CASE("cli: usage errors exit 2 with one line naming the cause", "[cli]") {
  CHECK(run_command(ftl_command("")).exit_code == 2);
  CHECK(run_command(ftl_command("evaluate --bogus")).exit_code == 2);
  const auto missing = run_command(ftl_command("finetune --config /nonexistent/run.json"));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Contains("/nonexistent/run.json"));
  CHECK(run_command(ftl_command("evaluate --checkpoint x --data y --min-accuracy 2")).exit_code ==
        2);
}

TEST_CASE("cli: config errors exit 2 and name the key", "[cli]") {
  ftl::testing::TempDir dir;
  const std::string config = write_run_config(dir, {{"optimizer", {{"lrr", 0.1}}}});
  const auto result = run_command(ftl_command("finetune --config " + shell_quote(config)));
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Contains("optimizer.lrr is not a known key"));

  const std::string good = write_run_config(dir, nlohmann::json::object());
  const auto bad_set =
      run_command(ftl_command("finetune --config " + shell_quote(good) + " --set train.epochs=0"));
  CHECK(bad_set.exit_code == 2);
  CHECK_THAT(bad_set.output, Contains("train.epochs must be in [1, 1000000], got 0"));
}

TEST_CASE("cli: asking for CUDA without CUDA exits 2 with a clear error", "[cli]") {
  if (torch::cuda::is_available()) {
    WARN("CUDA is available here: nothing to check");
    return;
  }
  ftl::testing::TempDir dir;
  const std::string config = write_run_config(dir, nlohmann::json::object());
  const auto result = run_command(
      ftl_command("finetune --config " + shell_quote(config) + " --set train.device=cuda"));
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.output, Contains("train.device is \"cuda\" but CUDA is not available"));
  CHECK_FALSE(std::filesystem::exists(dir / "run"));
}

TEST_CASE("cli: runtime failures exit 1 and name the path", "[cli]") {
  ftl::testing::TempDir dir;
  const std::string config = write_run_config(dir, nlohmann::json::object());
  const auto no_data = run_command(ftl_command("finetune --config " + shell_quote(config)));
  CHECK(no_data.exit_code == 1);
  CHECK_THAT(no_data.output, Contains((dir / "train").string() + ": not a folder (missing)"));

  const auto no_checkpoint =
      run_command(ftl_command("evaluate --checkpoint " + shell_quote((dir / "best.pt").string()) +
                              " --data " + shell_quote(dir.path().string())));
  CHECK(no_checkpoint.exit_code == 1);
  CHECK_THAT(no_checkpoint.output, Contains("best.pt: no such checkpoint file"));
}

TEST_CASE("cli: finetune prints a JSON summary on stdout only", "[cli]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 4, 16, 1);
  ftl::testing::write_shapes(dir / "val", 2, 16, 2);
  const std::string config = write_run_config(dir, {{"train", {{"epochs", 1}, {"threads", 2}}}});
  const auto result = run_command(shell_quote(ftl::testing::kFtlBinary) + " finetune --config " +
                                  shell_quote(config) + " --set data.batch_size=4 2>/dev/null");
  REQUIRE(result.exit_code == 0);
  const auto summary = nlohmann::json::parse(result.output);
  CHECK(summary["epochs"] == 1);
  CHECK(summary["best_checkpoint"] == (dir / "run/checkpoints/best.pt").string());
}

TEST_CASE("cli: -v, -q and --log-file set what the log shows and where it goes", "[cli]") {
  ftl::testing::TempDir dir;
  const std::string missing = shell_quote((dir / "missing.pt").string());
  const auto verbose = run_command(ftl_command("-v inspect " + missing));
  CHECK(verbose.exit_code == 1);
  CHECK_THAT(verbose.output, Contains("debug ftl ") && Contains("no such file"));
  const auto normal = run_command(ftl_command("inspect " + missing));
  CHECK_FALSE(Contains("debug").match(normal.output));
  CHECK(run_command(ftl_command("-v -q inspect " + missing)).exit_code == 2);

  // -q keeps errors; --log-file gets them too, with the date.
  const auto log_file = dir / "ftl.log";
  const auto quiet = run_command(
      ftl_command("-q --log-file " + shell_quote(log_file.string()) + " inspect " + missing));
  CHECK(quiet.exit_code == 1);
  CHECK_THAT(quiet.output, Contains("error") && Contains("no such file"));
  std::ifstream in(log_file);
  std::string line;
  std::getline(in, line);
  CHECK_THAT(line, Contains("] error ") && Contains("missing.pt: no such file"));
  CHECK(line.rfind("[20", 0) == 0);

  const auto unwritable =
      run_command(ftl_command("--log-file /etc/hostname/x.log inspect " + missing));
  CHECK(unwritable.exit_code == 2);
  CHECK_THAT(unwritable.output, Contains("--log-file /etc/hostname/x.log"));
}

TEST_CASE("cli: colour only on a terminal, and never with NO_COLOR", "[cli]") {
  if (run_command("command -v script >/dev/null 2>&1").exit_code != 0) {
    WARN("skipped: util-linux `script` (a pseudo-terminal) is not installed");
    return;
  }
  // `script` runs the command on a pseudo-terminal, as a person's shell would.
  const std::string inner = shell_quote(ftl::testing::kFtlBinary) + " inspect /nonexistent.pt";
  const auto tty = run_command("script -qc " + shell_quote(inner) + " /dev/null");
  CHECK_THAT(tty.output, Contains("\033["));
  const auto no_color = run_command("NO_COLOR=1 script -qc " + shell_quote(inner) + " /dev/null");
  CHECK_THAT(no_color.output, Contains("error /nonexistent.pt: no such file"));
  CHECK_FALSE(Contains("\033[").match(no_color.output));
  const auto piped = run_command(ftl_command("inspect /nonexistent.pt"));  // not a terminal
  CHECK_FALSE(Contains("\033[").match(piped.output));
}
