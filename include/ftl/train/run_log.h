// The lines a training run logs about its set-up and its epochs, worded in one place.
#pragma once

#include <string>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/data/image_cache.h"
#include "ftl/image/augment.h"
#include "ftl/image/preprocess.h"
#include "ftl/train/metrics_log.h"
#include "ftl/train/optimizer.h"

namespace ftl {

/// The input transforms of validation and of training ("images: ...; training: ...").
std::string describe_transforms(const Preprocess& preprocess, const Augment& augment);

/// train.mixup when on ("mixup alpha 0.8 or CutMix alpha 1 (CutMix 50%), 100% of the batches;
/// training accuracy is measured against each image's dominant label"), else "".
std::string describe_mixup(const MixupConfig& mixup);

/// The optimizer's parameter groups: "head (2 tensors, lr x 1), ...".
std::string describe_groups(const std::vector<ParamGroup>& groups);

/// The moving average of the weights (train.ema) as the log describes it, with what best.pt
/// holds.
std::string describe_ema(const EmaConfig& ema, Metric best_metric);

/// The optimizer as the log names it: "SGD", or "AdamW (betas 0.9, 0.999, eps 1e-08)", and the
/// effective batch (over the ranks) when train.accumulate_steps is above 1.
std::string describe_optimizer(const OptimizerConfig& optimizer, std::int64_t accumulate_steps,
                               std::int64_t batch_size, int world_size);

/// What the memory cache holds after the first epoch ("memory cache: N images, X MiB").
std::string describe_cache(const CacheStats& stats);

/// An epoch's log line; `reduce_ms_per_step` < 0 where the run has no collective.
std::string describe_epoch(const EpochMetrics& metrics, std::int64_t epochs,
                           double reduce_ms_per_step);

}  // namespace ftl
