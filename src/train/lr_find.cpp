#include "ftl/train/lr_find.h"

#include <spdlog/fmt/fmt.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "ftl/data/image_cache.h"
#include "ftl/data/loader.h"
#include "ftl/distributed/ranks.h"
#include "ftl/distributed/shard.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/device.h"
#include "ftl/model/model.h"
#include "ftl/model/train_state.h"
#include "ftl/train/bad_images.h"
#include "ftl/train/mixup.h"
#include "ftl/train/optimizer.h"
#include "ftl/train/run_data.h"
#include "ftl/train/train_step.h"
#include "ftl/train/training_model.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"
#include "ftl/util/text.h"

namespace ftl {
namespace {

void check_lr_find_options(const LrFindOptions& options) {
  if (!(options.start_lr > 0) || !std::isfinite(options.end_lr) ||
      !(options.start_lr < options.end_lr) || options.steps < kLrFindMinSteps) {
    throw std::invalid_argument(
        fmt::format("lr range test: needs 0 < start lr < end lr and steps >= {}, got {:g}, {:g}, "
                    "{}",
                    kLrFindMinSteps, options.start_lr, options.end_lr, options.steps));
  }
}

// The range test's loop over optimizer steps, with what the steps share.
class RangeTest {
 public:
  RangeTest(const Config& config, const LrFindOptions& options, spdlog::logger& log)
      : config_(config),
        options_(options),
        log_(log),
        device_(resolve_device(config.train.device, "train.device")),
        seed_(static_cast<std::uint64_t>(config.train.seed)) {}

  LrFindResult run();

 private:
  void set_up();
  // Trains one epoch's batches, or as many of them as the test still needs. Returns whether
  // the test has ended.
  bool run_epoch(std::int64_t epoch);
  // Records the step just finished; returns whether the test ends with it.
  bool record(const StepResult& step, double lr);
  void note_bad_images(const std::vector<BadImage>& bad);

  const Config& config_;
  const LrFindOptions options_;
  spdlog::logger& log_;
  const torch::Device device_;
  const std::uint64_t seed_;
  ComputeMode compute_;
  RunData data_;
  torch::Tensor class_weights_;
  std::unique_ptr<ImageCache> cache_;  // data.cache "memory": the epochs after the first reuse it
  LoaderOptions loader_options_;
  std::optional<TrainingModel> model_;
  std::unique_ptr<TrainingOptimizer> optimizer_;
  SingleProcess ranks_;
  Accumulation accumulation_;
  std::vector<double> lrs_;
  LossSmoother smoother_;
  DivergenceRule divergence_;
  BadImageLog bad_images_;  // the images left out, each logged when first seen
  LrFindResult result_;
};

LrFindResult RangeTest::run() {
  set_up();
  lrs_ = range_test_lrs(options_.start_lr, options_.end_lr, options_.steps);
  log_.info("lr range test: up to {} steps, lr {:g} to {:g}; {} training images, {} per step",
            options_.steps, options_.start_lr, options_.end_lr, data_.train.samples.size(),
            config_.data.batch_size * config_.train.accumulate_steps);
  for (std::int64_t epoch = 1;; ++epoch) {
    if (run_epoch(epoch)) break;
  }
  std::vector<double> smoothed;
  for (const LrFindPoint& point : result_.curve) smoothed.push_back(point.smoothed_loss);
  result_.suggestions = suggest_lrs(lrs_, smoothed, options_.steps);
  log_.info("{}", result_.stop_message);
  return std::move(result_);
}

// finetune's start (trainer.cpp) without the run folder, the ranks and the resume point.
void RangeTest::set_up() {
  const TrainingCompute started =
      start_training_compute(config_.train, device_, /*deterministic=*/true, seed_);
  const std::int64_t threads = started.threads;
  compute_ = started.mode;
  cache_ = make_run_cache(config_.data);
  // The loader of finetune's training epochs (configure_loading, train_epoch).
  loader_options_ = run_loader_options(config_, compute_.channels_last, cache_.get());
  loader_options_.augment = config_.data.augment;
  loader_options_.seed = seed_;
  data_ = load_run_data(config_.data, seed_, log_);
  class_weights_ = run_class_weights(config_.train.class_weights, data_, device_, log_);
  StartingNetwork start =
      starting_network(config_, data_.train.classes, nullptr, TrainState{}, device_, log_);
  apply_memory_format(start.module, compute_);
  model_.emplace(start.module, std::move(start.head), config_.model);
  optimizer_ = std::make_unique<TrainingOptimizer>(model_->trainable(), model_->head(), config_,
                                                   layer_depths(model_->module(), model_->head()));
  model_->set_mode(/*training=*/true);
  log_.info("device {}, {} compute threads, {} loader workers, deterministic; frozen: {}",
            device_.str(), threads, loader_options_.workers,
            model_->frozen().empty() ? std::string("nothing") : join(model_->frozen()));
}

bool RangeTest::run_epoch(std::int64_t epoch) {
  const std::int64_t batches = steps_per_epoch(data_.train.samples.size(), config_.data.batch_size,
                                               /*world_size=*/1);
  const std::int64_t batches_per_step = config_.train.accumulate_steps;
  const bool batchnorm_trains = any_batchnorm_training(model_->module());
  LoaderOptions options = loader_options_;
  options.epoch = epoch;
  BatchLoader loader(data_.train.samples, epoch_order(data_.train.samples.size(), seed_, epoch),
                     options);
  const Forward forward = [this](const torch::Tensor& input) {
    AutocastScope autocast(compute_, device_);
    return model_->module().forward({input}).toTensor().to(torch::kFloat32);
  };
  std::int64_t steps = 0;
  for (std::int64_t batch_index = 0; batch_index < batches; ++batch_index) {
    Batch batch;
    if (!loader.next(batch)) throw std::logic_error("the loader ended before the epoch's end");
    note_bad_images(batch.bad);
    const double lr = lrs_[result_.curve.size()];
    StepSettings settings = config_step_settings(config_.train, class_weights_, device_);
    settings.lr = lr;
    settings.mix_seed = mix_seed(seed_, epoch, batch_index, /*rank=*/0);
    // As in finetune: training BatchNorm cannot normalise one image, so a trailing batch of one
    // is left out, as is a batch whose images were all skipped.
    const std::int64_t size = batch.labels.defined() ? batch.labels.size(0) : 0;
    if (size > 1 || (size == 1 && !batchnorm_trains)) {
      accumulate_batch(forward, *optimizer_, batch, settings, accumulation_);
    }
    if (!closes_optimizer_step(batch_index, batches, batches_per_step) ||
        accumulation_.batches == 0) {
      continue;
    }
    ++steps;
    if (record(finish_step(*optimizer_, accumulation_, settings, ranks_), lr)) return true;
  }
  if (steps == 0) {
    throw DataError(
        fmt::format("{}: no batch of the training images could train (every image "
                    "left out, or batches of one image with BatchNorm training)",
                    config_.data.train));
  }
  return false;
}

bool RangeTest::record(const StepResult& step, double lr) {
  LrFindPoint point;
  point.step = static_cast<std::int64_t>(result_.curve.size()) + 1;
  point.lr = lr;
  point.loss = step.totals.loss;
  point.smoothed_loss = smoother_.add(point.loss);
  result_.curve.push_back(point);
  log_.debug("lr range test: step {}, lr {:.4g}, loss {:.4f}, smoothed {:.4f}", point.step, lr,
             point.loss, point.smoothed_loss);
  if (step.diverged) {
    result_.stop = LrFindStop::kNonFinite;
    result_.stop_message =
        fmt::format("stopped early: the {} is {} at step {} (lr {:.4g}); that step was not taken",
                    step.diverged->what, step.diverged->value, point.step, lr);
    return true;
  }
  const LrFindStop stop = divergence_.check(point.loss, point.smoothed_loss);
  if (stop == LrFindStop::kNonFinite) {
    result_.stop = stop;
    result_.stop_message = fmt::format("stopped early: the loss is {} at step {} (lr {:.4g})",
                                       point.loss, point.step, lr);
    return true;
  }
  // The last step ends the test whatever its loss: divergence there cuts nothing short.
  if (point.step == options_.steps) {
    result_.stop_message = fmt::format("completed: {} steps, lr {:g} to {:g}", point.step,
                                       options_.start_lr, options_.end_lr);
    return true;
  }
  if (stop == LrFindStop::kDiverged) {
    result_.stop = stop;
    result_.stop_message = fmt::format(
        "stopped early: the smoothed loss {:.4g} is above {:g} x the lowest, {:.4g}, at step {} "
        "(lr {:.4g})",
        point.smoothed_loss, kLrFindDivergenceFactor, divergence_.best(), point.step, lr);
    return true;
  }
  return false;
}

// Each image left out (data.on_bad_image skip) is logged once; no list is written, as there is
// no run folder to write it in.
void RangeTest::note_bad_images(const std::vector<BadImage>& bad) {
  for (const auto& [path, reason] : bad_images_.add(bad, data_.train)) {
    log_.warn("skipping a bad image: {}: {}", path, reason);
  }
}

}  // namespace

std::string to_string(LrFindStop stop) {
  switch (stop) {
    case LrFindStop::kCompleted:
      return "completed";
    case LrFindStop::kDiverged:
      return "diverged";
    case LrFindStop::kNonFinite:
      return "non_finite";
  }
  return "unknown";
}

std::vector<double> range_test_lrs(double start_lr, double end_lr, std::int64_t steps) {
  if (!(start_lr > 0) || !(start_lr < end_lr) || steps < 2) {
    throw std::invalid_argument("range_test_lrs needs 0 < start < end and steps >= 2");
  }
  std::vector<double> lrs;
  const double ratio = end_lr / start_lr;
  const auto last = static_cast<double>(steps - 1);
  for (std::int64_t i = 0; i < steps; ++i) {
    lrs.push_back(start_lr * std::pow(ratio, static_cast<double>(i) / last));
  }
  lrs.back() = end_lr;  // start x ratio can differ from end in the last bit
  return lrs;
}

double LossSmoother::add(double loss) {
  average_ = beta_ * average_ + (1 - beta_) * loss;
  beta_power_ *= beta_;
  return average_ / (1 - beta_power_);
}

std::vector<double> smooth_losses(const std::vector<double>& losses, double beta) {
  LossSmoother smoother(beta);
  std::vector<double> smoothed;
  for (const double loss : losses) smoothed.push_back(smoother.add(loss));
  return smoothed;
}

LrFindStop DivergenceRule::check(double loss, double smoothed) {
  if (!std::isfinite(loss) || !std::isfinite(smoothed)) return LrFindStop::kNonFinite;
  best_ = std::min(best_, smoothed);
  return smoothed > kLrFindDivergenceFactor * best_ ? LrFindStop::kDiverged
                                                    : LrFindStop::kCompleted;
}

std::size_t steep_index(const std::vector<double>& lrs, const std::vector<double>& losses) {
  if (losses.size() < 2 || lrs.size() != losses.size()) {
    throw std::invalid_argument("steep_index needs 2 or more points, as many lrs as losses");
  }
  std::size_t steepest = 0;
  double lowest = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i + 1 < losses.size(); ++i) {
    const double slope = (losses[i + 1] - losses[i]) / (std::log(lrs[i + 1]) - std::log(lrs[i]));
    if (slope < lowest) {
      lowest = slope;
      steepest = i;
    }
  }
  return steepest;
}

std::size_t valley_index(const std::vector<double>& losses) {
  if (losses.empty()) throw std::invalid_argument("valley_index needs 1 or more points");
  // longest[i]: the longest strictly decreasing subsequence that ends at point i.
  std::vector<std::int64_t> longest(losses.size(), 1);
  std::size_t last = 0;
  for (std::size_t i = 1; i < losses.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (losses[i] < losses[j]) longest[i] = std::max(longest[i], longest[j] + 1);
    }
    if (longest[i] > longest[last]) last = i;
  }
  const std::int64_t length = longest[last];
  if (length == 1) return 0;  // no point below an earlier one: the valley is the first point
  const std::int64_t start = static_cast<std::int64_t>(last) - length;
  return static_cast<std::size_t>(std::max<std::int64_t>(0, start + length / 3 + length / 6));
}

PointRange suggestion_range(const std::vector<double>& smoothed, std::int64_t steps) {
  PointRange range;
  range.begin =
      static_cast<std::size_t>(std::max<std::int64_t>(0, steps) / kLrFindSkipStartDivisor);
  range.end = smoothed.size() > kLrFindSkipEndPoints ? smoothed.size() - kLrFindSkipEndPoints : 0;
  for (std::size_t i = range.begin; i < range.end; ++i) {
    if (!std::isfinite(smoothed[i])) range.end = i;
  }
  if (range.end < range.begin) range.end = range.begin;
  return range;
}

LrSuggestions suggest_lrs(const std::vector<double>& lrs, const std::vector<double>& smoothed,
                          std::int64_t steps) {
  const PointRange range = suggestion_range(smoothed, steps);
  LrSuggestions suggestions;
  if (range.end - range.begin < 2) return suggestions;
  const auto begin = static_cast<std::ptrdiff_t>(range.begin);
  const auto end = static_cast<std::ptrdiff_t>(range.end);
  const std::vector<double> window_lrs(lrs.begin() + begin, lrs.begin() + end);
  const std::vector<double> window_losses(smoothed.begin() + begin, smoothed.begin() + end);
  const auto at = [&](std::size_t window_index) {
    const std::size_t index = range.begin + window_index;
    return LrSuggestion{index, lrs[index], smoothed[index]};
  };
  suggestions.steep = at(steep_index(window_lrs, window_losses));
  suggestions.valley = at(valley_index(window_losses));
  return suggestions;
}

std::string lr_find_csv(const LrFindResult& result) {
  std::string csv = "step,lr,loss,smoothed_loss\n";
  for (const LrFindPoint& point : result.curve) {
    csv += fmt::format("{},{},{},{}\n", point.step, point.lr, point.loss, point.smoothed_loss);
  }
  return csv;
}

void validate_lr_find_config(const Config& config) {
  Config checked = config;
  // output.dir is finetune's alone: any name passes finetune's check of the rest.
  if (checked.output.dir.empty()) checked.output.dir = "unused";
  validate_config(checked);
}

LrFindResult lr_find(const Config& config, const LrFindOptions& options, spdlog::logger& log) {
  check_lr_find_options(options);
  validate_lr_find_config(config);
  RangeTest test(config, options, log);
  return test.run();
}

}  // namespace ftl
