// Learning-rate schedules: the lr of every optimizer step as a pure function of where the step
// lies in the run, so a resumed run recomputes exactly the lr the uninterrupted run used.
#pragma once

#include <cstdint>

#include "ftl/config/config.h"

namespace ftl {

/// Where a step lies: `epoch` is 0-based (= epochs completed before it), `step` its 0-based
/// index in the epoch, `steps_per_epoch` the batches in an epoch.
struct SchedulePoint {
  std::int64_t epoch = 0;
  std::int64_t step = 0;
  std::int64_t steps_per_epoch = 1;
};

/// The lr of that step for a run of `epochs` epochs starting from `base_lr`:
/// - constant: base_lr
/// - step: base_lr x gamma^floor(epoch / step_size)
/// - multistep: base_lr x gamma^(number of milestones <= epoch)
/// - cosine: min_lr + (base_lr - min_lr)(1 + cos(pi u)) / 2, u = the fraction of the epochs
///   after warmup that is done, updated every step
/// During warmup_epochs the lr rises linearly, step by step, from base/steps_in_warmup to the
/// schedule's value: lr x (fraction of epochs done after this step) / warmup_epochs.
double scheduled_lr(const ScheduleConfig& schedule, double base_lr, std::int64_t epochs,
                    const SchedulePoint& point);

}  // namespace ftl
