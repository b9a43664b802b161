// The whole training loop (ftl::finetune) on the tiny network and 8x8 shapes: every part of the
// Trainer together, in seconds and without the ResNet-18 fixture, so that the sanitized unit
// tier runs the loop too.
#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "ftl/model/checkpoint.h"
#include "ftl/train/trainer.h"
#include "ftl/util/errors.h"
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
  cached.model.freeze = ftl::FreezePolicy::parse("backbone");
  std::ostringstream log_text;
  spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));
  ftl::finetune(cached, log);
  CHECK_THAT(log_text.str(), Catch::Contains("feature cache: the backbone's 6-d features"));
  const nlohmann::json timing =
      nlohmann::json::parse(std::ifstream(fixture.dir / "cached" / "timing.json"));
  CHECK(timing["epochs"][0]["features_seconds"].get<double>() > 0);  // extracted at epoch 1
  CHECK(timing["epochs"][1]["features_seconds"] == 0.0);
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

TEST_CASE("finetune loop: train.val_every scores every N-th epoch and the last",
          "[finetune_loop]") {
  TinyRun fixture;
  ftl::Config every = fixture.config("every", 5);
  ftl::Config sparse = fixture.config("sparse", 5);
  sparse.train.val_every = 2;
  std::ostringstream log_text;
  spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));
  ftl::finetune(every, ftl::testing::quiet_logger());
  const ftl::FinetuneResult result = ftl::finetune(sparse, log);
  const auto all = metrics_of(fixture.dir / "every");
  const auto some = metrics_of(fixture.dir / "sparse");
  REQUIRE(some.size() == 5);
  for (std::size_t i = 0; i < some.size(); ++i) {
    INFO("epoch " << i + 1);
    // Validation changes nothing that is learnt: the training figures are the same.
    CHECK(some[i]["train_loss"] == all[i]["train_loss"]);
    const bool scored = i == 1 || i == 3 || i == 4;  // epochs 2, 4 and the last, 5
    CHECK(some[i]["val_acc"].is_null() == !scored);
    CHECK(some[i]["val_loss"].is_null() == !scored);
    if (scored) CHECK(some[i]["val_loss"] == all[i]["val_loss"]);
  }
  CHECK((result.best_epoch == 2 || result.best_epoch == 4 || result.best_epoch == 5));
  CHECK_THAT(log_text.str(), Catch::Contains("epoch 1/5: train loss") &&
                                 Catch::Contains("| not validated (train.val_every) |"));
  // Stopped after an epoch that was not scored: last.pt records its validation as null, and
  // the resumed run keeps that line as it was.
  ftl::Config stopped = fixture.config("stopped", 5);
  stopped.train.val_every = 2;
  bool epoch_ended = false;
  ftl::FinetuneHooks hooks;
  hooks.on_epoch_end = [&] { epoch_ended = true; };
  hooks.stop_requested = [&] { return epoch_ended ? 15 : 0; };
  REQUIRE_THROWS_AS(ftl::finetune(stopped, ftl::testing::quiet_logger(), hooks), ftl::Interrupted);
  const ftl::Checkpoint last =
      ftl::load_checkpoint(fixture.dir / "stopped/checkpoints/last.pt", torch::kCPU);
  CHECK(last.metadata.epoch == 1);
  CHECK(last.metadata.metrics.at("val_acc").is_null());
  CHECK(last.metadata.metrics.at("train_acc").is_number());
  ftl::finetune(stopped, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(metrics_of(fixture.dir / "stopped") == some);
}

TEST_CASE("finetune loop: timing.json tells where each epoch of the process went",
          "[finetune_loop]") {
  TinyRun fixture;
  ftl::Config config = fixture.config("timed", 2);
  config.train.val_every = 2;
  ftl::finetune(config, ftl::testing::quiet_logger());
  const fs::path file = fixture.dir / "timed" / "timing.json";
  const nlohmann::json timing = nlohmann::json::parse(std::ifstream(file));
  for (const char* key : {"startup_seconds", "data_seconds", "model_seconds", "end_seconds"}) {
    INFO(key);
    CHECK(timing.at(key).get<double>() >= 0);
  }
  CHECK(timing["startup_seconds"].get<double>() >=
        timing["data_seconds"].get<double>() + timing["model_seconds"].get<double>() - 0.002);
  REQUIRE(timing["epochs"].size() == 2);
  CHECK(timing["epochs"][0]["epoch"] == 1);
  CHECK(timing["epochs"][0]["validate_seconds"] == 0.0);  // not scored
  CHECK(timing["epochs"][1]["validate_seconds"].get<double>() > 0);
  for (const auto& epoch : timing["epochs"]) {
    CHECK(epoch["train_seconds"].get<double>() > 0);
    CHECK(epoch["save_seconds"].get<double>() > 0);
    CHECK(epoch["loader_wait_seconds"].get<double>() <= epoch["train_seconds"].get<double>());
  }
  // A resumed process records its own epochs alone; --overwrite takes the file away with the
  // rest of the run.
  config.train.epochs = 3;
  ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  const nlohmann::json resumed = nlohmann::json::parse(std::ifstream(file));
  REQUIRE(resumed["epochs"].size() == 1);
  CHECK(resumed["epochs"][0]["epoch"] == 3);
  CHECK(ftl::holds_run(fixture.dir / "timed"));
  ftl::remove_run_outputs(fixture.dir / "timed");
  CHECK_FALSE(fs::exists(file));
}

TEST_CASE("finetune loop: the moving average is validated each epoch and best.pt can hold it",
          "[finetune_loop]") {
  TinyRun fixture;
  ftl::Config config = fixture.config("ema", 3);
  config.train.ema.decay = 0.9;
  config.train.best_metric = ftl::Metric::kValAccEma;
  config.train.keep_top_k = 1;
  const ftl::FinetuneResult result = ftl::finetune(config, ftl::testing::quiet_logger());
  const fs::path run = fixture.dir / "ema";
  const auto lines = metrics_of(run);
  REQUIRE(lines.size() == 3);
  for (const auto& line : lines) {
    CHECK(line.contains("val_acc_ema"));
    CHECK(line.contains("val_loss_ema"));
  }
  CHECK(result.best_metric == "val_acc_ema");
  const auto best_line = lines.at(static_cast<std::size_t>(result.best_epoch - 1));
  CHECK(result.best_val_acc == best_line.at("val_acc_ema").get<double>());
  std::ifstream csv(run / "metrics.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header ==
        "epoch,train_loss,train_acc,val_loss,val_acc,val_loss_ema,val_acc_ema,lr,lr_end,seconds,"
        "images_per_s,stop");

  // best.pt holds the average of its epoch, not the trained weights of last.pt.
  const ftl::Checkpoint best = ftl::load_checkpoint(result.best_checkpoint, torch::kCPU);
  CHECK(best.metadata.training.at("ema").at("decay") == 0.9);
  CHECK(best.metadata.metrics.at("val_acc") == best_line.at("val_acc_ema"));
  const ftl::Checkpoint last = ftl::load_checkpoint(run / "checkpoints/last.pt", torch::kCPU);
  const auto fc = [](const ftl::Checkpoint& checkpoint) {
    return checkpoint.module.attr("fc").toModule().attr("weight").toTensor();
  };
  CHECK_FALSE(fc(best).equal(fc(last)));
  CHECK(fs::exists(run / "checkpoints" / ("epoch_00" + std::to_string(result.best_epoch) + ".pt")));
}

TEST_CASE("finetune loop: EMA metrics need an average, and its keys need it too",
          "[finetune_loop]") {
  TinyRun fixture;
  ftl::Config config = fixture.config("refused", 1);
  config.train.best_metric = ftl::Metric::kValAccEma;
  CHECK_THROWS_WITH(ftl::finetune(config, ftl::testing::quiet_logger()),
                    "train.best_metric \"val_acc_ema\" needs a moving average of the weights: "
                    "set train.ema.decay (e.g. 0.999)");
  config.train.best_metric = ftl::Metric::kValAcc;
  config.train.early_stopping.metric = ftl::Metric::kValLossEma;
  CHECK_THROWS_WITH(ftl::finetune(config, ftl::testing::quiet_logger()),
                    "train.early_stopping.metric \"val_loss_ema\" needs a moving average of the "
                    "weights: set train.ema.decay (e.g. 0.999)");
  config.train.early_stopping.metric = ftl::Metric::kValLoss;
  config.train.ema.warmup = false;
  CHECK_THROWS_WITH(ftl::finetune(config, ftl::testing::quiet_logger()),
                    "train.ema.warmup and train.ema.buffers are used only when train.ema.decay "
                    "is above 0");
  CHECK_FALSE(fs::exists(fixture.dir / "refused"));
}
