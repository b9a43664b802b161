#include "ftl/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace ftl {
namespace {

constexpr double kPi = 3.14159265358979323846;

// fastai's SchedCos: from `start` at pos 0 to `end` at pos 1 along half a cosine.
double cosine_between(double start, double end, double pos) {
  return start + (1.0 + std::cos(kPi * (1.0 - pos))) * (end - start) / 2.0;
}

// fastai's combined_cos(pct, start, middle, end) at `pos` in [0, 1): the first pct of the run
// goes from start to middle, the rest from middle to end (pos == pct is the second phase's
// start, as combine_scheds has it).
double combined_cosine(double pct, double start, double middle, double end, double pos) {
  if (pos < pct) return cosine_between(start, middle, pos / pct);
  if (pct >= 1.0) return middle;
  return cosine_between(middle, end, (pos - pct) / (1.0 - pct));
}

// fastai's pct_train: the share of the run's steps done before this one.
double run_position(std::int64_t epochs, const SchedulePoint& point) {
  const auto steps = std::max<std::int64_t>(point.steps_per_epoch, 1);
  const auto total = static_cast<double>(std::max<std::int64_t>(epochs, 1) * steps);
  return static_cast<double>(point.epoch * steps + point.step) / total;
}

double one_cycle_peak(const ScheduleConfig& schedule, double base_lr) {
  return schedule.max_lr > 0 ? schedule.max_lr : base_lr;
}

// The schedule's value before warmup is applied, `done` epochs (fractional) into the run.
double decayed_lr(const ScheduleConfig& schedule, double base_lr, std::int64_t epochs,
                  std::int64_t epoch, double done) {
  if (schedule.type == ScheduleType::kStep) {
    return base_lr * std::pow(schedule.gamma, static_cast<double>(epoch / schedule.step_size));
  }
  if (schedule.type == ScheduleType::kMultistep) {
    int passed = 0;
    for (const std::int64_t milestone : schedule.milestones) {
      if (milestone <= epoch) ++passed;
    }
    return base_lr * std::pow(schedule.gamma, passed);
  }
  if (schedule.type == ScheduleType::kCosine) {
    const double span = static_cast<double>(epochs) - schedule.warmup_epochs;
    const double u = std::clamp((done - schedule.warmup_epochs) / span, 0.0, 1.0);
    return schedule.min_lr + (base_lr - schedule.min_lr) * 0.5 * (1.0 + std::cos(kPi * u));
  }
  return base_lr;
}

}  // namespace

double scheduled_lr(const ScheduleConfig& schedule, double base_lr, std::int64_t epochs,
                    const SchedulePoint& point) {
  if (schedule.type == ScheduleType::kOneCycle) {
    const double peak = one_cycle_peak(schedule, base_lr);
    return combined_cosine(schedule.pct_start, peak / schedule.div, peak, peak / schedule.div_final,
                           run_position(epochs, point));
  }
  const auto steps = static_cast<double>(std::max<std::int64_t>(point.steps_per_epoch, 1));
  const double done = static_cast<double>(point.epoch) + static_cast<double>(point.step) / steps;
  const double lr = decayed_lr(schedule, base_lr, epochs, point.epoch, done);
  if (schedule.warmup_epochs <= 0) return lr;
  const double done_after = done + 1.0 / steps;
  return lr * std::min(1.0, done_after / schedule.warmup_epochs);
}

std::optional<double> scheduled_momentum(const ScheduleConfig& schedule, std::int64_t epochs,
                                         const SchedulePoint& point) {
  if (schedule.type != ScheduleType::kOneCycle) return std::nullopt;
  const auto [low, high] = schedule.momentum_range;
  return combined_cosine(schedule.pct_start, high, low, high, run_position(epochs, point));
}

}  // namespace ftl
