#include "ftl/train/resume_point.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/util/errors.h"
#include "support/common.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {

// The Choice an error of `call` carries, then its message, as one line.
template <typename Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const ftl::Error& error) {
    return std::to_string(static_cast<int>(error.choice())) + ": " + error.what();
  }
  return "no error";
}

std::string expected(ftl::Choice choice, const std::string& message) {
  return std::to_string(static_cast<int>(choice)) + ": " + message;
}

}  // namespace

TEST_CASE("resume point: the starting mode of a folder without last.pt", "[resume_point]") {
  ftl::testing::TempDir dir;
  const fs::path run = dir / "run";
  CHECK(ftl::starting_mode(run, ftl::RunMode::kNew, ftl::testing::quiet_logger()) ==
        ftl::RunMode::kNew);
  CHECK(ftl::starting_mode(run, ftl::RunMode::kOverwrite, ftl::testing::quiet_logger()) ==
        ftl::RunMode::kOverwrite);
  CHECK(error_of([&] {
          ftl::starting_mode(run, ftl::RunMode::kResume, ftl::testing::quiet_logger());
        }) == expected(ftl::Choice::kResume, run.string() + " holds no run to resume"));
  // Killed before its first save: config.json only, so the run starts from the beginning.
  fs::create_directories(run / "checkpoints");
  std::ofstream(run / "config.json") << "{}";
  CHECK(ftl::starting_mode(run, ftl::RunMode::kResume, ftl::testing::quiet_logger()) ==
        ftl::RunMode::kOverwrite);
  // Checkpoints but no last.pt are not ftl's to replace unasked.
  std::ofstream(run / "checkpoints" / "best.pt") << "x";
  CHECK(error_of([&] {
          ftl::starting_mode(run, ftl::RunMode::kResume, ftl::testing::quiet_logger());
        }) == expected(ftl::Choice::kResumeNeedsOverwrite,
                       run.string() + " holds checkpoints but no checkpoints/last.pt to resume "
                                      "from"));
  std::ofstream(run / "checkpoints" / "last.pt") << "x";
  CHECK(ftl::starting_mode(run, ftl::RunMode::kResume, ftl::testing::quiet_logger()) ==
        ftl::RunMode::kResume);
}

TEST_CASE("resume point: checkpoints record the config without output.dir", "[resume_point]") {
  const nlohmann::json config = {{"output", {{"dir", "/runs/x"}}}, {"train", {{"epochs", 3}}}};
  CHECK(ftl::without_run_folder(config) == nlohmann::json({{"train", {{"epochs", 3}}}}));
}

TEST_CASE("resume point: a resumed run must see its images and a step of this run",
          "[resume_point]") {
  ftl::RunData data;
  data.train.samples = {{"a.png", 0}, {"b.png", 0}, {"c.png", 1}};
  data.train_fingerprint = "new";
  ftl::TrainState state;
  state.train_fingerprint = "old";
  state.train_samples = 4;
  REQUIRE_THROWS_WITH(
      ftl::adopt_run_data(state, data, "data/train", 2, "run/checkpoints/last.pt"),
      "data.train data/train is not the training set the run started with (3 images now, 4 "
      "then, or other files or classes): a resumed run must see the same images");
  state.train_fingerprint = "new";
  state.steps_done = 2;
  REQUIRE_THROWS_WITH(ftl::adopt_run_data(state, data, "data/train", 2, "run/checkpoints/last.pt"),
                      "run/checkpoints/last.pt: ftl_train_state.json: epoch 0, step 2 is not a "
                      "point of this run");
  ftl::TrainState fresh;
  ftl::adopt_run_data(fresh, data, "data/train", 2, "run/checkpoints/last.pt");
  CHECK(fresh.train_fingerprint == "new");
  CHECK(fresh.train_samples == 3);
}
