// The whole training loop (ftl::finetune) on the tiny network and 8x8 shapes: every part of the
// Trainer together, in seconds and without the ResNet-18 fixture, so that the sanitized unit
// tier runs the loop too.
#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "ftl/model/checkpoint.h"
#include "ftl/train/trainer.h"
#include "support/common.h"
#include "support/shapes.h"
#include "support/temp_dir.h"
#include "support/tiny_net.h"

namespace fs = std::filesystem;

namespace {

constexpr int kRunSide = 8;

// Shapes data and the tiny network saved as a TorchScript file.
struct TinyRun {
  ftl::testing::TempDir dir;
  TinyRun() {
    ftl::testing::write_shapes(dir / "train", 6, kRunSide, 1);
    ftl::testing::write_shapes(dir / "val", 2, kRunSide, 2);
    ftl::testing::tiny_net(5).save((dir / "tiny.pt").string());
  }
  ftl::Config config(const std::string& run, std::int64_t epochs) const {
    ftl::Config config;
    config.model.path = (dir / "tiny.pt").string();
    config.data.train = (dir / "train").string();
    config.data.val = (dir / "val").string();
    config.data.preprocess.image_size = ftl::testing::kTinyNetSide;
    config.data.preprocess.eval_resize = ftl::EvalResize::kStretch;
    config.data.batch_size = 4;
    config.data.workers = 1;
    config.optimizer.lr = 0.05;
    config.train.epochs = epochs;
    config.train.threads = 1;
    config.train.deterministic = true;
    config.output.dir = (dir / run).string();
    return config;
  }
};

std::vector<nlohmann::json> metrics_of(const fs::path& run) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json metrics = nlohmann::json::parse(line);
    metrics.erase("seconds");
    metrics.erase("images_per_s");
    lines.push_back(metrics);
  }
  return lines;
}

}  // namespace

TEST_CASE("finetune loop: a run trains, validates and writes its folder", "[finetune_loop]") {
  TinyRun fixture;
  const ftl::FinetuneResult result =
      ftl::finetune(fixture.config("run", 2), ftl::testing::quiet_logger());
  CHECK(result.epochs == 2);
  CHECK(result.stop_reason == "completed");
  CHECK_FALSE(result.resumed);
  const fs::path run = fixture.dir / "run";
  CHECK(metrics_of(run).size() == 2);
  for (const char* file : {"config.json", "data.json", "summary.json", "checkpoints/last.pt"}) {
    CHECK(fs::exists(run / file));
  }
  const ftl::Checkpoint best = ftl::load_checkpoint(result.best_checkpoint, torch::kCPU);
  CHECK(best.metadata.classes == ftl::testing::kShapeClasses);
  CHECK(best.metadata.epoch == result.best_epoch);
  // A finished run resumed again has nothing to do: no epoch is added to its metrics.
  const auto finished = metrics_of(run);
  CHECK(ftl::finetune(fixture.config("run", 2), ftl::testing::quiet_logger(), {},
                      ftl::RunMode::kResume)
            .resumed);
  CHECK(metrics_of(run) == finished);
}

TEST_CASE("finetune loop: a run stopped and resumed ends as the uninterrupted one",
          "[finetune_loop]") {
  TinyRun fixture;
  ftl::finetune(fixture.config("whole", 3), ftl::testing::quiet_logger());
  ftl::finetune(fixture.config("parts", 1), ftl::testing::quiet_logger());
  const ftl::FinetuneResult resumed = ftl::finetune(
      fixture.config("parts", 3), ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(resumed.resumed);
  CHECK(metrics_of(fixture.dir / "parts") == metrics_of(fixture.dir / "whole"));
  // A signal mid-epoch saves the step and stops with Interrupted.
  ftl::FinetuneHooks hooks;
  int steps = 0;
  hooks.on_batch = [&](const ftl::BatchProgress&) { ++steps; };
  hooks.stop_requested = [&] { return steps == 2 ? 15 : 0; };
  REQUIRE_THROWS_AS(
      ftl::finetune(fixture.config("signalled", 3), ftl::testing::quiet_logger(), hooks),
      ftl::Interrupted);
  hooks = {};
  ftl::finetune(fixture.config("signalled", 3), ftl::testing::quiet_logger(), hooks,
                ftl::RunMode::kResume);
  CHECK(metrics_of(fixture.dir / "signalled") == metrics_of(fixture.dir / "whole"));
}

TEST_CASE("finetune loop: a frozen backbone trains the head on cached features",
          "[finetune_loop]") {
  TinyRun fixture;
  ftl::Config cached = fixture.config("cached", 2);
  cached.model.freeze = "backbone";
  std::ostringstream log_text;
  spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));
  ftl::finetune(cached, log);
  CHECK_THAT(log_text.str(), Catch::Contains("feature cache: the backbone's 6-d features"));
  ftl::Config uncached = cached;
  uncached.train.feature_cache = ftl::FeatureCacheMode::kOff;
  uncached.output.dir = (fixture.dir / "uncached").string();
  ftl::finetune(uncached, ftl::testing::quiet_logger());
  const auto with_cache = metrics_of(fixture.dir / "cached");
  const auto without = metrics_of(fixture.dir / "uncached");
  REQUIRE(with_cache.size() == without.size());
  for (std::size_t i = 0; i < with_cache.size(); ++i) {
    CHECK(with_cache[i]["train_loss"].get<double>() ==
          Approx(without[i]["train_loss"].get<double>()).epsilon(1e-5));
  }
}
