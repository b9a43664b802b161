// The CLI's wording of the core's errors: each ftl::Choice gets the flags users typed before
// the core stopped naming them, word for word.
#include "cli/error_text.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/train/run_folder.h"
#include "support/temp_dir.h"

namespace {

const std::string kRunDir = "/runs/cats";

}  // namespace

TEST_CASE("error_text: an error about no choice is its message", "[cli][error_text]") {
  CHECK(ftl::cli::error_text(ftl::DataError("data/train: no such folder")) ==
        "data/train: no such folder");
  CHECK(ftl::cli::error_text(ftl::IoError("disk full")) == "disk full");
}

TEST_CASE("error_text: --resume and --overwrite where the run folder cannot be resumed",
          "[cli][error_text]") {
  CHECK(ftl::cli::error_text(
            ftl::ConfigError(kRunDir + " holds no run to resume", ftl::Choice::kResume)) ==
        "--resume: " + kRunDir + " holds no run to resume");
  CHECK(ftl::cli::error_text(ftl::ConfigError(
            kRunDir + " holds checkpoints but no checkpoints/last.pt to resume from",
            ftl::Choice::kResumeNeedsOverwrite)) ==
        "--resume: " + kRunDir +
            " holds checkpoints but no checkpoints/last.pt to resume from; pass --overwrite to "
            "replace them");
  CHECK(ftl::cli::error_text(ftl::ConfigError(
            "train.lr was 0.1, now 0.2; only train.epochs (and the feature cache and dist "
            "settings) may change on resume",
            ftl::Choice::kOverwriteToChange)) ==
        "train.lr was 0.1, now 0.2; only train.epochs (and the feature cache and dist "
        "settings) may change on resume (start a new run in another output.dir, or pass "
        "--overwrite to replace this one)");
}

TEST_CASE("error_text: --set before an override's own message", "[cli][error_text]") {
  CHECK(ftl::cli::error_text(
            ftl::ConfigError("expects key=value, got \"train.epochs\"", ftl::Choice::kOverride)) ==
        "--set expects key=value, got \"train.epochs\"");
  CHECK(ftl::cli::error_text(
            ftl::ConfigError("data.train: the value is not valid UTF-8 (a config is JSON text)",
                             ftl::Choice::kOverride)) ==
        "--set data.train: the value is not valid UTF-8 (a config is JSON text)");
}

TEST_CASE("error_text: a folder that already holds a run, as check_run_dir_free throws it",
          "[cli][error_text]") {
  ftl::testing::TempDir dir;
  std::ofstream(dir / "metrics.jsonl") << "{\"epoch\": 1}\n";
  try {
    ftl::check_run_dir_free(dir.path());
    FAIL("check_run_dir_free accepted a folder that holds a run");
  } catch (const ftl::IoError& error) {
    CHECK(std::string(error.what()) ==
          "output.dir " + dir.path().string() + " already holds a run (metrics.jsonl)");
    CHECK(error.choice() == ftl::Choice::kResumeOrOverwrite);
    CHECK(ftl::cli::error_text(error) ==
          "output.dir " + dir.path().string() +
              " already holds a run (metrics.jsonl); resume it with --resume, replace it with "
              "--overwrite, or choose another folder");
  }
}
