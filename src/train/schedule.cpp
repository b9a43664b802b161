#include "ftl/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace ftl {
namespace {

constexpr double kPi = 3.14159265358979323846;

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
  const auto steps = static_cast<double>(std::max<std::int64_t>(point.steps_per_epoch, 1));
  const double done = static_cast<double>(point.epoch) + static_cast<double>(point.step) / steps;
  const double lr = decayed_lr(schedule, base_lr, epochs, point.epoch, done);
  if (schedule.warmup_epochs <= 0) return lr;
  const double done_after = done + 1.0 / steps;
  return lr * std::min(1.0, done_after / schedule.warmup_epochs);
}

}  // namespace ftl
