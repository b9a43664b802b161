#include "ftl/train/run_writer.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "support/common.h"
#include "support/temp_dir.h"
#include "support/tiny_net.h"
#include "support/tiny_training_model.h"

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kWriterClasses = {"a", "b", "c"};

ftl::RunData two_folders(const fs::path& dir) {
  ftl::RunData data;
  data.train.root = dir / "train";
  data.train.classes = kWriterClasses;
  data.train.samples = {{dir / "train" / "a" / "1.png", 0}};
  data.val = data.train;
  data.val.root = dir / "val";
  return data;
}

std::string text_of(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A writer whose folder is prepared for a new run, with its metadata set.
struct PreparedWriter {
  ftl::testing::TempDir dir;
  ftl::RunWriter writer{dir / "run", /*writes=*/true};
  ftl::TrainingModel model = ftl::testing::tiny_training_model(3, ftl::ModelConfig{});
  ftl::CheckpointRanking ranking{ftl::Metric::kValAcc, 1};

  PreparedWriter() {
    writer.prepare(ftl::RunMode::kNew, {{"train", {{"epochs", 2}}}}, two_folders(dir.path()), 0,
                   /*ema=*/false, ftl::testing::quiet_logger());
    writer.init_metadata(kWriterClasses, ftl::Preprocess{}, nlohmann::json::object(), nullptr);
  }
  void save_last() {
    writer.save_last(model, 2, [] { return torch::jit::ExtraFilesMap{{"state.json", "{}"}}; });
  }
};

}  // namespace

TEST_CASE("run writer: the folder is set up with config.json and data.json", "[run_writer]") {
  PreparedWriter fixture;
  const fs::path run = fixture.dir / "run";
  CHECK(text_of(run / "config.json") == "{\n  \"train\": {\n    \"epochs\": 2\n  }\n}\n");
  const nlohmann::json data = nlohmann::json::parse(text_of(run / "data.json"));
  CHECK(data["train"]["images"] == 1);
  CHECK(fs::is_directory(run / "checkpoints"));
  CHECK(fs::exists(run / "metrics.jsonl"));
}

TEST_CASE("run writer: last.pt, best.pt and the kept epochs reach the disk in order",
          "[run_writer]") {
  PreparedWriter fixture;
  const fs::path checkpoints = fixture.dir / "run" / "checkpoints";
  fixture.model.set_mode(true);
  fixture.save_last();
  CHECK(fixture.model.module().is_training());  // saved in eval mode, then put back
  fixture.writer.write_kept(fixture.ranking.add(1, 0.5), 1, fixture.ranking,
                            ftl::testing::quiet_logger());
  fixture.writer.write_kept(fixture.ranking.add(2, 0.7), 2, fixture.ranking,
                            ftl::testing::quiet_logger());
  fixture.writer.wait();
  CHECK(fs::exists(checkpoints / "last.pt"));
  CHECK(fs::exists(checkpoints / "best.pt"));
  CHECK(fs::exists(checkpoints / "epoch_002.pt"));
  CHECK_FALSE(fs::exists(checkpoints / "epoch_001.pt"));  // dropped from the top 1
  const ftl::Checkpoint last =
      ftl::load_checkpoint(checkpoints / "last.pt", torch::kCPU, {"state.json"});
  CHECK(last.metadata.classes == kWriterClasses);
  CHECK(last.extra.at("state.json") == "{}");
  CHECK(last.metadata.training["trainable_tensors"] == 2);
  CHECK_FALSE(last.module.is_training());
  // best.pt and the kept epoch are last.pt's file, not a second serialisation of the network.
  CHECK(fs::equivalent(checkpoints / "best.pt", checkpoints / "last.pt"));
  CHECK(fs::equivalent(checkpoints / "epoch_002.pt", checkpoints / "last.pt"));
  const ftl::Checkpoint best =
      ftl::load_checkpoint(checkpoints / "best.pt", torch::kCPU, {"state.json"});
  CHECK(best.extra.at("state.json") == "{}");
  // The next epoch's last.pt is a new file under the old name: best.pt keeps its epoch.
  fixture.writer.metadata().epoch = 3;
  fixture.save_last();
  fixture.writer.wait();
  CHECK_FALSE(fs::equivalent(checkpoints / "best.pt", checkpoints / "last.pt"));
  CHECK(ftl::load_checkpoint(checkpoints / "best.pt", torch::kCPU).metadata.epoch == 0);
  CHECK(ftl::load_checkpoint(checkpoints / "last.pt", torch::kCPU).metadata.epoch == 3);
}

TEST_CASE("run writer: the summary names the best epoch and the kept checkpoints", "[run_writer]") {
  PreparedWriter fixture;
  fixture.save_last();
  fixture.writer.write_kept(fixture.ranking.add(1, 0.5), 1, fixture.ranking,
                            ftl::testing::quiet_logger());
  ftl::TrainState state;
  state.epochs_done = 1;
  state.stop_reason = "completed";
  state.stop_message = "completed: epoch 1 of 1";
  fixture.writer.write_summary(fixture.ranking, state, 4);
  const nlohmann::json summary =
      nlohmann::json::parse(text_of(fixture.dir / "run" / "summary.json"));
  CHECK(summary["best_epoch"] == 1);
  CHECK(summary["best_value"] == 0.5);
  CHECK(summary["bad_images"] == 4);
  CHECK(summary["top_k"][0]["epoch"] == 1);
  const ftl::FinetuneResult result = fixture.writer.result(fixture.ranking, state, false);
  CHECK(result.best_checkpoint == fixture.dir / "run" / "checkpoints" / "best.pt");
  CHECK(result.stop_reason == "completed");
}

TEST_CASE("run writer: a rank other than 0 writes nothing", "[run_writer]") {
  ftl::testing::TempDir dir;
  ftl::RunWriter writer(dir / "run", /*writes=*/false);
  writer.prepare(ftl::RunMode::kNew, {}, two_folders(dir.path()), 0, /*ema=*/false,
                 ftl::testing::quiet_logger());
  ftl::TrainingModel model = ftl::testing::tiny_training_model(3, ftl::ModelConfig{});
  writer.save_last(model, 2, []() -> torch::jit::ExtraFilesMap {
    FAIL("the resume state is made only where it is written");
    return {};
  });
  writer.write_bad_images("x\ty\n");
  ftl::CheckpointRanking ranking(ftl::Metric::kValAcc, 0);
  writer.write_summary(ranking, ftl::TrainState{}, 0);
  writer.wait();
  CHECK_FALSE(fs::exists(dir / "run"));
}

TEST_CASE("run writer: an overwrite replaces the earlier run's results", "[run_writer]") {
  PreparedWriter fixture;
  fixture.save_last();
  fixture.writer.wait();
  ftl::RunWriter again(fixture.dir / "run", /*writes=*/true);
  again.prepare(ftl::RunMode::kOverwrite, {}, two_folders(fixture.dir.path()), 0, /*ema=*/false,
                ftl::testing::quiet_logger());
  CHECK_FALSE(fs::exists(fixture.dir / "run" / "checkpoints" / "last.pt"));
  CHECK(text_of(fixture.dir / "run" / "config.json") == "null\n");
}
