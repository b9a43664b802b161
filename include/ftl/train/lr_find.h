// The learning-rate range test (fastai's lr_find, Lightning's lr_find): training from a run's
// starting point with an lr that grows exponentially step by step, recording the loss, until the
// loss diverges or the steps run out; then two suggested lrs read off the smoothed loss curve.
// The run's folder plays no part: nothing is saved, and the network is discarded at the end.
// The suggestion rules are pure functions on the curve, so that they can be checked by hand.
#pragma once

#include <spdlog/logger.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ftl/config/config.h"

namespace ftl {

/// fastai's Recorder: an exponential moving average of the loss with this weight on the past.
inline constexpr double kLossSmoothingBeta = 0.98;
/// fastai's stop rule: the smoothed loss above this many times the lowest smoothed loss so far.
inline constexpr double kLrFindDivergenceFactor = 4.0;
/// fastai skips the first steps/kLrFindSkipStartDivisor points (steps as asked for) before
/// suggesting: the smoothed loss of the first steps still carries the bias correction's noise.
inline constexpr std::int64_t kLrFindSkipStartDivisor = 10;
/// ... and the last kLrFindSkipEndPoints recorded points: where the loss shoots up.
inline constexpr std::size_t kLrFindSkipEndPoints = 5;
/// The fewest steps a test may ask for: 10 leave 4 points to suggest from once the first one and
/// the last 5 are skipped.
inline constexpr std::int64_t kLrFindMinSteps = 10;

struct LrFindOptions {
  double start_lr = 1e-7;    // the first step's lr (the head's; the backbone's is x its mult)
  double end_lr = 10;        // the last step's lr, reached when the loss has not diverged
  std::int64_t steps = 100;  // optimizer steps at most, each train.accumulate_steps batches
};

/// Why a range test ended.
enum class LrFindStop {
  kCompleted,  // every step asked for was taken
  kDiverged,   // the smoothed loss rose above kLrFindDivergenceFactor x its lowest before the
               // last step (on the last one the test is complete anyway)
  kNonFinite,  // a loss or the gradients were not finite (that step was not applied)
};

/// "completed", "diverged" or "non_finite".
std::string to_string(LrFindStop stop);

/// One optimizer step of the test.
struct LrFindPoint {
  std::int64_t step = 0;     // 1, 2, ...
  double lr = 0;             // the head's lr of the step
  double loss = 0;           // the step's mean training loss (over its accumulated batches)
  double smoothed_loss = 0;  // LossSmoother's value after this step
};

/// A suggested lr: a point of the curve.
struct LrSuggestion {
  std::size_t index = 0;  // position in the curve (its step is index + 1)
  double lr = 0;
  double loss = 0;  // the smoothed loss there
};

struct LrSuggestions {
  std::optional<LrSuggestion> steep;   // none when fewer than 2 points are left to suggest from
  std::optional<LrSuggestion> valley;  // likewise
};

struct LrFindResult {
  std::vector<LrFindPoint> curve;  // every step taken, the last one that stopped the test too
  LrSuggestions suggestions;
  LrFindStop stop = LrFindStop::kCompleted;
  std::string stop_message;  // for people: why the test ended, at which step and lr
};

/// The lr of each step: start x (end / start)^(i / (steps - 1)) for i = 0 .. steps - 1, the
/// first exactly `start_lr` and the last exactly `end_lr`. Needs 0 < start < end and steps >= 2.
std::vector<double> range_test_lrs(double start_lr, double end_lr, std::int64_t steps);

/// fastai's AvgSmoothLoss: average = beta x average + (1 - beta) x loss from 0, divided by
/// 1 - beta^n after n losses (the bias correction), so that the first value is the first loss.
class LossSmoother {
 public:
  explicit LossSmoother(double beta = kLossSmoothingBeta) : beta_(beta) {}
  /// Adds a step's loss; returns the smoothed loss after it.
  double add(double loss);

 private:
  double beta_;
  double average_ = 0;
  double beta_power_ = 1;  // beta^n
};

/// LossSmoother over a whole curve.
std::vector<double> smooth_losses(const std::vector<double>& losses,
                                  double beta = kLossSmoothingBeta);

/// fastai's stop rule, fed one step at a time: a loss (or smoothed loss) that is not finite, or
/// a smoothed loss above kLrFindDivergenceFactor x the lowest one so far, this one included.
class DivergenceRule {
 public:
  /// kCompleted while the test may go on.
  LrFindStop check(double loss, double smoothed);
  /// The lowest smoothed loss seen (infinity before the first).
  double best() const { return best_; }

 private:
  double best_ = std::numeric_limits<double>::infinity();
};

/// fastai's `steep`: the point where the loss falls fastest against log lr, i.e. the start of
/// the segment i -> i + 1 with the lowest (loss[i+1] - loss[i]) / (ln lr[i+1] - ln lr[i]); the
/// first such on a tie. Needs at least 2 points, lrs increasing.
std::size_t steep_index(const std::vector<double>& lrs, const std::vector<double>& losses);

/// fastai's `valley`: the longest valley, as the longest strictly decreasing subsequence of the
/// losses, ending at `last` (the first point to reach the greatest length) and taken to span
/// the `length` points before it, from start = last - length; the suggestion is the point
/// floor(length / 3) + floor(length / 6) past that start (1/3 + 1/6 along the valley). Where
/// every loss rises the valley is the first point. fastai's rule can give -1 (a valley of the
/// first two points), which Python reads as the last point; here it is 0, the valley's start.
/// Needs at least 1 point.
std::size_t valley_index(const std::vector<double>& losses);

/// The points that suggestions are taken from, [begin, end) of the curve: fastai skips the
/// first steps / kLrFindSkipStartDivisor (of the steps asked for) and the last
/// kLrFindSkipEndPoints recorded ones, and cuts the rest before its first non-finite loss.
/// Empty (begin == end) when nothing is left.
struct PointRange {
  std::size_t begin = 0;
  std::size_t end = 0;
};
PointRange suggestion_range(const std::vector<double>& smoothed, std::int64_t steps);

/// steep and valley on the points of suggestion_range (none where fewer than 2 are left).
LrSuggestions suggest_lrs(const std::vector<double>& lrs, const std::vector<double>& smoothed,
                          std::int64_t steps);

/// The curve as CSV: a header `step,lr,loss,smoothed_loss`, then one row per step, numbers in
/// their shortest exact form (nan or inf for a loss that was not finite).
std::string lr_find_csv(const LrFindResult& result);

/// Checks `config` as finetune does (validate_config) but for output.dir, which may be absent:
/// the test writes no run folder.
void validate_lr_find_config(const Config& config);

/// The range test on `config`'s data, network and settings (ConfigError where finetune would
/// refuse them, except that output.dir may be absent): the network finetune starts from, its
/// freeze and BatchNorm policies, optimizer and parameter groups, loss settings (label
/// smoothing, class weights, mixup), augmentation, train.accumulate_steps and train.threads.
/// The lr follows range_test_lrs instead of optimizer.schedule; staged unfreezing, validation,
/// checkpoints and the feature cache play no part. Epochs are drawn in finetune's seeded order
/// for as long as the steps need. Deterministic kernels and train.seed make a second test on
/// the same config repeat the first exactly. Throws std::invalid_argument when `options` are
/// out of range (0 < start_lr < end_lr, steps >= kLrFindMinSteps): the caller checks them.
LrFindResult lr_find(const Config& config, const LrFindOptions& options, spdlog::logger& log);

}  // namespace ftl
