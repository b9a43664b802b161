// Training that can be trusted across interruptions: a run killed with SIGKILL or stopped with
// SIGINT at any moment and resumed ends bit for bit where the uninterrupted run ends; staged
// unfreezing, early stopping and the NaN guard; run folders are never overwritten silently.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>

#include "ftl/model/checkpoint.h"
#include "ftl/model/model.h"
#include "ftl/model/train_state.h"
#include "ftl/train/trainer.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::read_file;
using ftl::testing::run_command;
using ftl::testing::shell_quote;
using ftl::testing::spawn_ftl;
using ftl::testing::write_config;

namespace {

constexpr int kResumeSide = 32;

// The metrics lines without the wall-clock columns, which no two runs share.
std::vector<nlohmann::json> metrics_without_timing(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    auto json = nlohmann::json::parse(line);
    json.erase("seconds");
    json.erase("images_per_s");
    lines.push_back(json);
  }
  return lines;
}

nlohmann::json base_config(const fs::path& dir, const fs::path& run) {
  return {{"model", {{"path", ftl::testing::kResNet18}}},
          {"data",
           {{"train", (dir / "train").string()},
            {"val", (dir / "val").string()},
            {"image_size", kResumeSide},
            {"batch_size", 8},
            {"workers", 2},
            // Augmentation, RandAugment (its magnitudes drawn per image) and random erasing
            // (noise drawn per image) must repeat on resume.
            {"augment", true},
            {"auto_augment", "rand"},
            {"random_erasing", {{"p", 0.5}}}}},
          {"optimizer",
           {{"lr", 0.02},
            {"weight_decay", 1e-4},
            {"schedule", {{"type", "cosine"}, {"warmup_epochs", 0.5}}}}},
          {"train",
           {{"epochs", 3},
            {"threads", 2},
            // Each step's mixup or CutMix draw must repeat on resume too.
            {"mixup", {{"mixup_alpha", 0.8}, {"cutmix_alpha", 1.0}}},
            {"deterministic", true},
            {"keep_top_k", 2},
            {"checkpoint_every_steps", 1}}},
          {"output", {{"dir", run.string()}}}};
}

// Waits for the next save of `path`, then sends `signal`. Returns the exit status; -1 if the
// run ended before that.
int signal_after_next_save(pid_t pid, const fs::path& path, int signal) {
  if (ftl::testing::wait_for_new_file(pid, path) != -1) return -1;
  ::kill(pid, signal);
  return ftl::testing::wait_exit_code(pid);
}

ftl::TrainState state_of(const fs::path& last) {
  const ftl::Checkpoint checkpoint =
      ftl::load_checkpoint(last, torch::kCPU, {ftl::kTrainStateName, ftl::kTrainTensorsName});
  return ftl::decode_train_state(checkpoint.extra, last.string());
}

ftl::Config core_config(const fs::path& dir, const std::string& run) {
  ftl::Config config = ftl::config_from_json(base_config(dir, dir / run));
  config.optimizer.schedule = {};
  config.train.checkpoint_every_steps = 0;
  config.train.keep_top_k = 0;
  return config;
}

}  // namespace

TEST_CASE(
    "resume: killed with SIGKILL and stopped with SIGINT, the run ends bit for bit "
    "where the uninterrupted one does",
    "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 10, kResumeSide, 21);  // 30 images: 4 steps per epoch
  ftl::testing::write_shapes(dir / "val", 3, kResumeSide, 22);
  const fs::path run = dir / "run";
  const fs::path config = write_config(dir / "run.json", base_config(dir.path(), run));
  const std::string ftl_command = shell_quote(ftl::testing::kFtlBinary);

  // The uninterrupted run, in another folder: checkpoints do not record where they were run.
  const fs::path reference = dir / "reference";
  const auto uninterrupted =
      run_command(ftl_command + " finetune --config " + shell_quote(config.string()) +
                  " --set output.dir=" + shell_quote(reference.string()) + " 2>&1");
  INFO(uninterrupted.output);
  REQUIRE(uninterrupted.exit_code == 0);
  CHECK_THAT(uninterrupted.output,
             Contains("batches mixed: mixup alpha 0.8 or CutMix alpha 1 (CutMix 50%), 100% of "
                      "the batches; training accuracy is measured against each image's dominant "
                      "label"));

  const fs::path log = dir / "interrupted.log";
  const fs::path last = run / "checkpoints/last.pt";
  // 1. SIGKILL right after the first save (one step in), mid-epoch.
  pid_t pid = spawn_ftl({"finetune", "--config", config.string()}, log);
  REQUIRE(signal_after_next_save(pid, last, SIGKILL) == 128 + SIGKILL);
  const ftl::TrainState first = state_of(last);
  CHECK(first.epochs_done == 0);
  CHECK(first.steps_done >= 1);

  // 2. Resume, and SIGKILL again after three more saves: into the second epoch.
  pid = spawn_ftl({"finetune", "--resume", run.string()}, log);
  for (int save = 0; save < 3; ++save) REQUIRE(ftl::testing::wait_for_new_file(pid, last) == -1);
  REQUIRE(signal_after_next_save(pid, last, SIGKILL) == 128 + SIGKILL);

  // 3. Resume, and stop with SIGINT: it saves and exits 130 with how to resume.
  pid = spawn_ftl({"finetune", "--resume", run.string()}, log);
  const int interrupted = signal_after_next_save(pid, last, SIGINT);
  const std::string messages = read_file(log);
  INFO(messages);
  REQUIRE(interrupted == 130);
  CHECK_THAT(messages, Contains("interrupted by SIGINT") &&
                           Contains("resume with: ftl finetune --resume " + run.string()));
  const ftl::TrainState stopped = state_of(last);
  CHECK(stopped.epochs_done + stopped.steps_done > first.steps_done);

  // 4. Resume, and stop with SIGTERM: exit 143.
  pid = spawn_ftl({"finetune", "--resume", run.string()}, log);
  REQUIRE(signal_after_next_save(pid, last, SIGTERM) == 143);
  CHECK_THAT(read_file(log), Contains("interrupted by SIGTERM"));

  // 5. Resume to the end.
  const auto finished =
      run_command(ftl_command + " finetune --resume " + shell_quote(run.string()) + " 2>&1");
  INFO(finished.output);
  REQUIRE(finished.exit_code == 0);
  CHECK_THAT(finished.output, Contains("\"resumed\": true"));

  // Same bytes: weights, BatchNorm statistics, optimizer state and metadata.
  CHECK(read_file(run / "checkpoints/last.pt") == read_file(reference / "checkpoints/last.pt"));
  CHECK(read_file(run / "checkpoints/best.pt") == read_file(reference / "checkpoints/best.pt"));
  CHECK(metrics_without_timing(run) == metrics_without_timing(reference));
  CHECK(read_file(run / "metrics.csv").size() > 0);
  for (const char* kept : {"epoch_001.pt", "epoch_002.pt", "epoch_003.pt"}) {
    INFO(kept);
    CHECK(fs::exists(run / "checkpoints" / kept) == fs::exists(reference / "checkpoints" / kept));
  }
  // No temporary file of a killed write is left behind.
  for (const auto& entry : fs::directory_iterator(run / "checkpoints")) {
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
  }
}

TEST_CASE("resume: settings other than train.epochs are refused, a larger epochs continues",
          "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 4, /*val_per_class=*/2, 31, kResumeSide);
  ftl::Config config = core_config(dir.path(), "run");
  config.train.epochs = 1;
  ftl::finetune(config, ftl::testing::quiet_logger());

  ftl::Config changed = config;
  changed.optimizer.lr = 0.5;
  REQUIRE_THROWS_AS(ftl::finetune(changed, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
                    ftl::ConfigError);
  REQUIRE_THROWS_WITH(
      ftl::finetune(changed, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
      Contains("with a different optimizer.lr: the run used 0.02, now 0.5"));

  // A finished run resumed with the same epochs has nothing to do.
  const auto same = ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(same.epochs == 1);
  CHECK(same.stop_reason == "completed");

  config.train.epochs = 2;
  const auto more = ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(more.epochs == 2);
  CHECK(more.resumed);
  const auto lines = metrics_without_timing(config.output.dir);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["stop"] == "");  // epoch 1 no longer ends the run
  CHECK(lines[1]["stop"] == "completed");

  // A kill after the last epoch's last.pt, before its best.pt and summary: the resume of the
  // finished run writes them, the same bytes as before.
  const fs::path run = config.output.dir;
  const std::string best = read_file(run / "checkpoints/best.pt");
  const std::string summary = read_file(run / "summary.json");
  if (more.best_epoch == 2) {
    fs::remove(run / "checkpoints/best.pt");
  }
  fs::remove(run / "summary.json");
  ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(read_file(run / "checkpoints/best.pt") == best);
  CHECK(read_file(run / "summary.json") == summary);

  // Another training set cannot continue the run.
  fs::copy_file(dir / "train/circle/0.png", dir / "train/circle/extra.png");
  config.train.epochs = 3;
  REQUIRE_THROWS_AS(ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
                    ftl::DataError);
  REQUIRE_THROWS_WITH(
      ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
      Contains("is not the training set the run started with (13 images now, 12 then"));
}

TEST_CASE("resume: a damaged last.pt or a folder without one is refused, naming the file",
          "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 4, /*val_per_class=*/2, 33, kResumeSide);
  ftl::Config config = core_config(dir.path(), "run");
  config.train.epochs = 1;
  // The core says what is wrong; the CLI prefixes "--resume: " (unit/cli/error_text_test.cpp).
  REQUIRE_THROWS_WITH(
      ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
      config.output.dir + " holds no run to resume");
  REQUIRE_THROWS_MATCHES(
      ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
      ftl::ConfigError, Catch::Predicate<ftl::ConfigError>([](const ftl::ConfigError& error) {
        return error.choice() == ftl::Choice::kResume;
      }));
  // Killed before its first save (config.json only): resuming runs it from the start.
  fs::create_directories(fs::path(config.output.dir) / "checkpoints");
  std::ofstream(fs::path(config.output.dir) / "config.json") << "{}";
  const auto started =
      ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(started.epochs == 1);
  CHECK_FALSE(started.resumed);
  const fs::path last = fs::path(config.output.dir) / "checkpoints/last.pt";
  const std::string bytes = read_file(last);
  // A new file cut short, as a copy is: writing into last.pt in place would cut best.pt too,
  // which is the same file.
  fs::remove(last);
  std::ofstream(last, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  REQUIRE_THROWS_AS(ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
                    ftl::ModelError);
  REQUIRE_THROWS_WITH(
      ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
      Contains(last.string() + ": damaged file: not a readable zip archive"));
  // A checkpoint saved without the resume state (through the core library, as any program
  // may) cannot be resumed from.
  const ftl::Checkpoint best =
      ftl::load_checkpoint(fs::path(config.output.dir) / "checkpoints/best.pt", torch::kCPU);
  ftl::save_checkpoint(best.module, best.metadata, last);
  REQUIRE_THROWS_WITH(
      ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
      Contains(last.string() + ": holds no resume state"));
}

TEST_CASE("staged unfreezing: the backbone joins at its epoch, and survives resume",
          "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 6, /*val_per_class=*/2, 41, kResumeSide);
  ftl::Config config = core_config(dir.path(), "staged");
  config.model.freeze = ftl::FreezePolicy::parse("backbone");
  config.model.unfreeze_at_epoch = 2;
  config.model.backbone_lr_mult = 0.1;
  config.train.epochs = 1;
  ftl::finetune(config, ftl::testing::quiet_logger());

  const ftl::LoadedModel original = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  auto conv1 = [](const torch::jit::Module& module) {
    return module.attr("conv1").toModule().attr("weight").toTensor();
  };
  const fs::path last = fs::path(config.output.dir) / "checkpoints/last.pt";
  const ftl::Checkpoint after_one = ftl::load_checkpoint(last, torch::kCPU);
  CHECK(torch::equal(conv1(after_one.module), conv1(original.module)));  // epoch 1: frozen
  CHECK(after_one.metadata.training["phase"] == "frozen");
  CHECK(after_one.metadata.training["trainable_tensors"] == 2);
  CHECK(state_of(last).optimizer["groups"].size() == 2);  // head, head_no_decay

  config.train.epochs = 2;  // resume into the epoch that unfreezes
  ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  const ftl::Checkpoint after_two = ftl::load_checkpoint(last, torch::kCPU);
  CHECK_FALSE(torch::equal(conv1(after_two.module), conv1(original.module)));  // epoch 2: trains
  CHECK(after_two.metadata.training["phase"] == "full");
  CHECK(after_two.metadata.training["trainable_tensors"] == original.module.parameters().size());
  const auto groups = state_of(last).optimizer["groups"];
  REQUIRE(groups.size() == 4);
  CHECK(groups[2]["name"] == "unfrozen");
  CHECK(groups[2]["lr_mult"] == 0.1);

  // The same two epochs without a stop give the same weights.
  ftl::Config straight = config;
  straight.output.dir = (dir / "straight").string();
  ftl::finetune(straight, ftl::testing::quiet_logger());
  const ftl::Checkpoint reference =
      ftl::load_checkpoint(fs::path(straight.output.dir) / "checkpoints/last.pt", torch::kCPU);
  const auto expected = reference.module.named_parameters();
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& p : expected) by_name[p.name] = p.value;
  for (const auto& p : after_two.module.named_parameters()) {
    INFO(p.name);
    CHECK(torch::equal(p.value, by_name.at(p.name)));
  }
}

TEST_CASE("early stopping ends the run at the right epoch and says why", "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 4, /*val_per_class=*/2, 51, kResumeSide);
  ftl::Config config = core_config(dir.path(), "run");
  config.train.epochs = 6;
  config.train.early_stopping.metric = ftl::Metric::kValLoss;
  config.train.early_stopping.patience = 2;
  config.train.early_stopping.min_delta = 100;  // no epoch can improve by that much
  const auto result = ftl::finetune(config, ftl::testing::quiet_logger());
  CHECK(result.epochs == 3);  // epoch 1 sets the mark, 2 and 3 fail to beat it
  CHECK(result.stop_reason == "early_stopping");
  CHECK_THAT(result.stop_message,
             Contains("val_loss did not improve by more than 100 for 2 epochs") &&
                 Contains("after epoch 3"));
  const auto lines = metrics_without_timing(config.output.dir);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2]["stop"] == "early_stopping");
  std::ifstream summary_file(fs::path(config.output.dir) / "summary.json");
  const auto summary = nlohmann::json::parse(summary_file);
  CHECK(summary["stop_reason"] == "early_stopping");
  // Resuming a run that stopped early has nothing left to do.
  const auto again = ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(again.epochs == 3);
  CHECK(metrics_without_timing(config.output.dir).size() == 3);
}

TEST_CASE("a loss that diverges stops the run with exit 1, keeping the last good checkpoint",
          "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 4, /*val_per_class=*/2, 61, kResumeSide);
  nlohmann::json config = base_config(dir.path(), dir / "run");
  // A sane first epoch, then an absurd learning rate.
  config["optimizer"]["lr"] = 0.01;
  config["optimizer"]["schedule"] = {{"type", "multistep"}, {"milestones", {1}}, {"gamma", 1e12}};
  config["train"]["checkpoint_every_steps"] = 0;
  const fs::path file = write_config(dir / "run.json", config);
  const auto run = run_command(shell_quote(ftl::testing::kFtlBinary) + " finetune --config " +
                               shell_quote(file.string()) + " 2>&1");
  INFO(run.output);
  CHECK(run.exit_code == 1);
  // The loss or, first, the gradients turn non-finite in the first steps of epoch 2.
  CHECK_THAT(run.output, Contains("at epoch 2, step") &&
                             Contains("training diverged; lower optimizer.lr") &&
                             Contains("The last good checkpoint is kept: "));
  const ftl::Checkpoint last = ftl::load_checkpoint(dir / "run/checkpoints/last.pt", torch::kCPU);
  CHECK(last.metadata.epoch == 1);
  for (const auto& p : last.module.named_parameters()) {
    INFO(p.name);
    REQUIRE(torch::isfinite(p.value).all().item<bool>());
  }
}

TEST_CASE("finetune: --overwrite replaces a run, and without it the run is refused untouched",
          "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 4, /*val_per_class=*/2, 71, kResumeSide);
  nlohmann::json config = base_config(dir.path(), dir / "run");
  config["train"]["epochs"] = 1;
  config["train"]["checkpoint_every_steps"] = 0;
  const fs::path file = write_config(dir / "run.json", config);
  const std::string command =
      shell_quote(ftl::testing::kFtlBinary) + " finetune --config " + shell_quote(file.string());
  REQUIRE(run_command(command + " >/dev/null 2>&1").exit_code == 0);
  std::ofstream(dir / "run/notes.txt") << "mine";
  const std::string before = read_file(dir / "run/checkpoints/last.pt");

  const auto refused = run_command(command + " 2>&1");
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.output, Contains("already holds a run") && Contains("--overwrite"));
  CHECK(read_file(dir / "run/checkpoints/last.pt") == before);

  const auto replaced = run_command(command + " --overwrite --set train.seed=5 2>&1");
  INFO(replaced.output);
  CHECK(replaced.exit_code == 0);
  CHECK(read_file(dir / "run/checkpoints/last.pt") != before);
  CHECK(read_file(dir / "run/notes.txt") == "mine");  // only ftl's own files are replaced

  const auto both = run_command(command + " --overwrite --resume auto 2>&1");
  CHECK(both.exit_code == 2);

  // --resume auto: a finished run has nothing to do; an empty folder starts a new run.
  const auto finished = run_command(command + " --resume auto --set train.seed=5 2>&1");
  CHECK(finished.exit_code == 0);
  CHECK_THAT(finished.output, Contains("has already finished (completed: epoch 1 of 1)"));
  const auto fresh = run_command(command + " --resume auto --set output.dir=" +
                                 shell_quote((dir / "fresh").string()) + " 2>&1");
  CHECK(fresh.exit_code == 0);
  CHECK_THAT(fresh.output, Contains("holds no run; starting a new one"));
  // --resume RUN_DIR with a config for another folder is refused.
  const auto elsewhere =
      run_command(command + " --resume " + shell_quote((dir / "fresh").string()) + " 2>&1");
  CHECK(elsewhere.exit_code == 2);
  CHECK_THAT(elsewhere.output, Contains("they must name the same run folder"));
}

TEST_CASE("resume: a run recorded before a config key existed resumes at that key's default",
          "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 4, /*val_per_class=*/2, 41, kResumeSide);
  ftl::Config config = core_config(dir.path(), "run");
  config.train.epochs = 1;
  ftl::finetune(config, ftl::testing::quiet_logger());

  // Rewrite last.pt as an older ftl wrote it: its config lacks keys added since.
  const fs::path last = dir / "run/checkpoints/last.pt";
  ftl::Checkpoint old = ftl::load_checkpoint(last, torch::Device(torch::kCPU),
                                             {ftl::kTrainStateName, ftl::kTrainTensorsName});
  old.metadata.config["data"].erase("on_bad_image");
  old.metadata.config["data"].erase("val_fraction");
  std::ofstream(last, std::ios::binary | std::ios::trunc)
      << ftl::serialize_checkpoint(old.module, old.metadata, old.extra);

  config.train.epochs = 2;
  const auto resumed =
      ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(resumed.epochs == 2);
  CHECK(resumed.resumed);

  // A key this ftl does not know is still refused, by name.
  old = ftl::load_checkpoint(last, torch::Device(torch::kCPU),
                             {ftl::kTrainStateName, ftl::kTrainTensorsName});
  old.metadata.config["data"]["from_the_future"] = 1;
  std::ofstream(last, std::ios::binary | std::ios::trunc)
      << ftl::serialize_checkpoint(old.module, old.metadata, old.extra);
  config.train.epochs = 3;
  CHECK_THROWS_WITH(ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume),
                    Contains("data.from_the_future"));
}

TEST_CASE(
    "resume: AdamW with onecycle, accumulated steps and an EMA ranked for best.pt, stopped "
    "between the batches of one step, ends bit for bit where the uninterrupted run does",
    "[resume][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 10, kResumeSide, 21);  // 30 images
  ftl::testing::write_shapes(dir / "val", 3, kResumeSide, 22);
  ftl::Config config = core_config(dir.path(), "stopped");
  config.data.batch_size = 4;  // 8 batches an epoch: optimizer steps of 3, 3 and 2 batches
  config.train.accumulate_steps = 3;
  config.train.epochs = 2;
  config.optimizer.type = ftl::OptimizerType::kAdamW;
  config.optimizer.momentum = ftl::OptimizerConfig{}.momentum;
  config.optimizer.weight_decay = 0.05;
  config.optimizer.lr = 0.002;
  config.optimizer.schedule.type = ftl::ScheduleType::kOneCycle;
  config.train.ema.decay = 0.99;
  config.train.best_metric = ftl::Metric::kValAccEma;

  ftl::Config straight = config;
  straight.output.dir = (dir / "straight").string();
  ftl::finetune(straight, ftl::testing::quiet_logger());

  // Stop after the 5th batch of epoch 2: the second of its second step's three batches.
  std::int64_t batches_done = 0;
  ftl::FinetuneHooks hooks;
  hooks.on_batch = [&](const ftl::BatchProgress& progress) {
    batches_done = (progress.epoch - 1) * static_cast<std::int64_t>(progress.batches) +
                   static_cast<std::int64_t>(progress.batch);
  };
  hooks.stop_requested = [&] { return batches_done == 8 + 4 ? SIGINT : 0; };
  REQUIRE_THROWS_AS(ftl::finetune(config, ftl::testing::quiet_logger(), hooks), ftl::Interrupted);
  const fs::path last = fs::path(config.output.dir) / "checkpoints/last.pt";
  const ftl::TrainState stopped = state_of(last);
  CHECK(stopped.epochs_done == 1);
  CHECK(stopped.steps_done == 5);
  REQUIRE_FALSE(stopped.accumulation.is_null());
  CHECK(stopped.accumulation["batches"] == 2);  // batches 4 and 5 of the step of 3 to 5
  CHECK(stopped.tensors.count("gradient/fc.weight") == 1);
  CHECK(stopped.tensors.count("adamw/exp_avg_sq/fc.weight") == 1);
  CHECK(stopped.optimizer["type"] == "adamw");
  CHECK(stopped.tensors.at("ema/updates").item<std::int64_t>() == 3 + 1);  // steps taken

  ftl::finetune(config, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(read_file(last) == read_file(fs::path(straight.output.dir) / "checkpoints/last.pt"));
  CHECK(read_file(fs::path(config.output.dir) / "checkpoints/best.pt") ==
        read_file(fs::path(straight.output.dir) / "checkpoints/best.pt"));
  CHECK(metrics_without_timing(config.output.dir) == metrics_without_timing(straight.output.dir));
  CHECK(state_of(last).accumulation.is_null());
}
