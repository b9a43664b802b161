// Learning-rate schedules: the lr of every optimizer step as a pure function of where the step
// lies in the run, so a resumed run recomputes exactly the lr the uninterrupted run used.
#pragma once

#include <cstdint>
#include <optional>

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
/// - onecycle: fastai's fit_one_cycle at p = the share of the run's steps done before this
///   one: from max_lr / div up to max_lr while p < pct_start, then down to max_lr / div_final,
///   each phase along half a cosine (max_lr 0 = base_lr)
/// During warmup_epochs the lr rises linearly, step by step, from base/steps_in_warmup to the
/// schedule's value: lr x (fraction of epochs done after this step) / warmup_epochs.
double scheduled_lr(const ScheduleConfig& schedule, double base_lr, std::int64_t epochs,
                    const SchedulePoint& point);

/// The momentum (SGD) or beta1 (AdamW) of that step, where the schedule sets it: onecycle
/// moves it from momentum_range's high end down to its low end while lr rises, and back up
/// while lr falls (fastai's moms). Other schedules: none, the optimizer's own value holds.
std::optional<double> scheduled_momentum(const ScheduleConfig& schedule, std::int64_t epochs,
                                         const SchedulePoint& point);

}  // namespace ftl
