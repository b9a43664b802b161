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

/// What the memory cache holds after the first epoch ("memory cache: N images, X MiB").
std::string describe_cache(const CacheStats& stats);

/// An epoch's log line; `reduce_ms_per_step` < 0 where the run has no collective.
std::string describe_epoch(const EpochMetrics& metrics, std::int64_t epochs,
                           double reduce_ms_per_step);

}  // namespace ftl
