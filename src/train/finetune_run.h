// One call of finetune as an object: the parts of a run (src/train/*.h) and what they share.
// trainer.cpp sets a run up and ends it; epoch.cpp trains, validates and saves each epoch.
// Private to the train area.
#pragma once

#include <spdlog/fmt/fmt.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <memory>
#include <optional>

#include "ftl/data/image_cache.h"
#include "ftl/data/loader.h"
#include "ftl/distributed/launch.h"
#include "ftl/distributed/ranks.h"
#include "ftl/distributed/shard.h"
#include "ftl/eval/evaluate.h"
#include "ftl/eval/metrics.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/device.h"
#include "ftl/model/model.h"
#include "ftl/train/bad_images.h"
#include "ftl/train/early_stopping.h"
#include "ftl/train/feature_source.h"
#include "ftl/train/finetune_hooks.h"
#include "ftl/train/finetune_result.h"
#include "ftl/train/optimizer.h"
#include "ftl/train/ranking.h"
#include "ftl/train/resume_point.h"
#include "ftl/train/run_data.h"
#include "ftl/train/run_log.h"
#include "ftl/train/run_timing.h"
#include "ftl/train/run_writer.h"
#include "ftl/train/schedule.h"
#include "ftl/train/train_step.h"
#include "ftl/train/training_model.h"
#include "ftl/train/weight_average.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"
#include "ftl/util/text.h"

namespace ftl::train_detail {

using Clock = std::chrono::steady_clock;

/// Prefix of the parameter groups that staged unfreezing adds.
inline constexpr const char* kUnfrozenGroup = "unfrozen";

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

inline std::string signal_name(int signal_number) {
  if (signal_number == SIGINT) return "SIGINT";
  if (signal_number == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal_number);
}

inline double metric_value(const EpochMetrics& metrics, Metric metric) {
  switch (metric) {
    case Metric::kValLoss:
      return metrics.val_loss;
    case Metric::kValAcc:
      return metrics.val_acc;
    case Metric::kValLossEma:
      return metrics.val_loss_ema;
    case Metric::kValAccEma:
      return metrics.val_acc_ema;
  }
  return metrics.val_acc;  // not reached: -Wswitch checks that every metric is named
}

// One call of finetune: the parts of a run and what they share. Each epoch trains (train_epoch,
// one train_step per batch), validates, records and saves.
class FinetuneRun {
 public:
  FinetuneRun(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks, RunMode mode,
              const Launch& launch)
      : config_(config),
        log_(log),
        hooks_(hooks),
        mode_(mode),
        launch_(launch),
        device_(rank_device(resolve_device(config.train.device, "train.device"),
                            config.train.device, launch)),
        run_dir_(config.output.dir),
        ranking_(config.train.best_metric, config.train.keep_top_k),
        early_stopping_(config.train.early_stopping) {}

  FinetuneResult run();

 private:
  std::optional<Checkpoint> start();
  void configure_loading();
  void load_data();
  void setup_model(const std::optional<Checkpoint>& last);
  void setup_optimizer(const std::optional<Checkpoint>& last);
  void unfreeze(std::int64_t epoch);
  bool run_epoch(std::int64_t epoch);
  EpochMetrics epoch_metrics(std::int64_t epoch, const MetricsAccumulator* validated,
                             const MetricsAccumulator* validated_average) const;
  void save_kept(const CheckpointRanking::Update& update, std::int64_t epoch,
                 const nlohmann::ordered_json& line);
  bool decide_stop(std::int64_t epoch, const EpochMetrics& metrics);
  void log_epoch(const EpochMetrics& metrics);
  double train_epoch(std::int64_t epoch);
  bool after_step(std::int64_t epoch, std::int64_t step, std::int64_t batches, int signal);
  StepSettings step_settings(std::int64_t epoch, std::int64_t step) const;
  StepTotals finish_optimizer_step(std::int64_t epoch, std::int64_t step);
  MetricsAccumulator validate();
  torch::Tensor forward(const torch::Tensor& input);
  void save_last();
  void note_bad_images(const std::vector<BadImage>& bad, const ImageFolder& data);
  void share_bad_images();
  void log_cache();
  [[noreturn]] void throw_diverged(const Divergence& divergence, std::int64_t epoch,
                                   std::int64_t step, double lr);
  [[noreturn]] void throw_interrupted(int signal, const std::string& where);

  // Batches in an epoch; `step` below is always the 0-based index of a batch.
  std::int64_t steps_per_epoch() const {
    return ftl::steps_per_epoch(data_.train.samples.size(), config_.data.batch_size,
                                ranks_->world_size());
  }
  // The schedules count optimizer steps: train.accumulate_steps batches each, the epoch's last
  // one possibly fewer.
  SchedulePoint schedule_point(std::int64_t epoch, std::int64_t step) const {
    const std::int64_t batches_per_step = config_.train.accumulate_steps;
    return {epoch - 1, step / batches_per_step,
            (steps_per_epoch() + batches_per_step - 1) / batches_per_step};
  }
  // Whether batch `step` is the last of its optimizer step.
  bool closes_step(std::int64_t step) const {
    return closes_optimizer_step(step, steps_per_epoch(), config_.train.accumulate_steps);
  }
  double lr_at(std::int64_t epoch, std::int64_t step) const {
    return scheduled_lr(config_.optimizer.schedule, config_.optimizer.lr, config_.train.epochs,
                        schedule_point(epoch, step));
  }
  // train.val_every: every N-th epoch is scored, and the run's last.
  bool validates(std::int64_t epoch) const {
    return epoch % config_.train.val_every == 0 || epoch == config_.train.epochs;
  }
  int poll_stop() const { return hooks_.stop_requested ? hooks_.stop_requested() : 0; }
  std::uint64_t seed() const { return static_cast<std::uint64_t>(config_.train.seed); }

  const Config& config_;
  spdlog::logger& log_;
  const FinetuneHooks& hooks_;
  RunMode mode_;
  const Launch launch_;
  const torch::Device device_;
  const std::filesystem::path run_dir_;
  std::unique_ptr<Ranks> ranks_;
  ComputeMode compute_;
  nlohmann::json resolved_config_;
  nlohmann::json checkpoint_config_;  // resolved_config_ without output.dir
  RunData data_;
  ImageFolder val_shard_;              // this process's share of the validation images
  LoaderOptions loader_options_;       // validation's; training adds augmentation per epoch
  std::unique_ptr<ImageCache> cache_;  // data.cache "memory"
  bool cache_logged_ = false;
  torch::Tensor class_weights_;
  std::optional<TrainingModel> model_;
  std::unique_ptr<TrainingOptimizer> optimizer_;
  Accumulation accumulation_;               // the batches of the optimizer step in progress
  std::unique_ptr<WeightAverage> average_;  // train.ema: the moving average of the weights
  std::unique_ptr<FeatureSource> features_;
  CheckpointRanking ranking_;
  EarlyStopping early_stopping_;
  BadImageLog bad_images_;
  TrainState state_;
  const Clock::time_point started_ = Clock::now();
  RunTiming timing_;
  // Last, so that it is destroyed first: its queued checkpoint files reach the disk before
  // anything else goes away.
  std::unique_ptr<RunWriter> writer_;
};

}  // namespace ftl::train_detail
