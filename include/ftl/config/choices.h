// The config's choices: every option that takes one of a few words is an enum here. The option
// table (src/config/option_rows.cpp) parses the word once; code compares enum values, so a misspelt
// choice does not compile. to_string gives the word back, as config.json, checkpoints and logs
// write it.
#pragma once

namespace ftl {

/// model.batchnorm: which BatchNorm layers update their running statistics while training.
enum class BatchNormPolicy {
  kFollow,  // those of the frozen part stay in eval mode, the others train
  kFrozen,  // every one stays in eval mode (affine weights still train where unfrozen)
  kTrain,   // every one trains, frozen or not
};

/// data.eval_resize: how the evaluation input is made from an image of any shape.
enum class EvalResize {
  kCenterCrop,  // the shorter side to the resize, then the centre square
  kStretch,     // both sides straight to image_size
};

/// data.auto_augment: the policy of random image operations applied after the crop and flip
/// (image/auto_augment.h), torchvision's.
enum class AutoAugmentPolicy {
  kNone,
  kTrivialWide,  // TrivialAugmentWide: one operation, at a uniformly drawn magnitude
  kRand,         // RandAugment: data.rand_augment.num_ops operations at one magnitude
};

/// data.cache: whether decoded, resized images are kept across epochs.
enum class DataCache { kNone, kMemory };

/// data.on_bad_image: what a corrupt image does to the run.
enum class BadImagePolicy {
  kError,  // stops it, naming the image
  kSkip,   // is left out and listed in the run's bad_images.txt
};

/// optimizer.type: the update rule of every optimizer step (see train/optimizer.h).
enum class OptimizerType {
  kSgd,    // SGD with momentum and L2 weight decay added to the gradient
  kAdamW,  // Adam with decoupled weight decay (Loshchilov and Hutter)
};

/// optimizer.schedule.type: how the lr changes over the run (see train/schedule.h).
enum class ScheduleType { kConstant, kStep, kMultistep, kCosine, kOneCycle };

/// train.early_stopping.metric and train.best_metric: an epoch's validation metric, of the
/// trained weights or of their moving average (train.ema).
enum class Metric { kValLoss, kValAcc, kValLossEma, kValAccEma };

/// Whether a smaller value of `metric` is the better one.
inline bool lower_is_better(Metric metric) {
  return metric == Metric::kValLoss || metric == Metric::kValLossEma;
}

/// Whether `metric` is of the weights' moving average.
inline bool is_ema_metric(Metric metric) {
  return metric == Metric::kValLossEma || metric == Metric::kValAccEma;
}

/// train.ema.buffers: what the moving average does with BatchNorm's running statistics.
enum class EmaBuffers {
  kAverage,  // averaged like the weights (timm's ModelEmaV2/V3 default)
  kCopy,     // copied from the trained network (timm's exclude_buffers)
};

/// train.feature_cache: whether the head trains on cached backbone features where it can.
enum class FeatureCacheMode {
  kAuto,  // in memory, for this run
  kOff,   // the backbone runs every step
  kDisk,  // also kept in a file, for later runs
};

/// train.precision: the numeric precision of convolutions and matmuls.
enum class Precision { kFp32, kBf16 };

/// train.memory_format: the layout of 4-d weights and image batches.
enum class MemoryFormat { kChannelsLast, kContiguous };

/// dist.backend: the c10d backend of a distributed run.
enum class DistBackend {
  kAuto,  // Gloo on the CPU, NCCL on CUDA
  kGloo,
  kNccl,
};

inline const char* to_string(BatchNormPolicy value) {
  switch (value) {
    case BatchNormPolicy::kFollow:
      return "follow";
    case BatchNormPolicy::kFrozen:
      return "frozen";
    case BatchNormPolicy::kTrain:
      return "train";
  }
  return "";  // not reached: -Wswitch checks that every value is named
}

inline const char* to_string(EvalResize value) {
  switch (value) {
    case EvalResize::kCenterCrop:
      return "center_crop";
    case EvalResize::kStretch:
      return "stretch";
  }
  return "";
}

inline const char* to_string(AutoAugmentPolicy value) {
  switch (value) {
    case AutoAugmentPolicy::kNone:
      return "none";
    case AutoAugmentPolicy::kTrivialWide:
      return "trivial_wide";
    case AutoAugmentPolicy::kRand:
      return "rand";
  }
  return "";
}

inline const char* to_string(DataCache value) {
  switch (value) {
    case DataCache::kNone:
      return "none";
    case DataCache::kMemory:
      return "memory";
  }
  return "";
}

inline const char* to_string(BadImagePolicy value) {
  switch (value) {
    case BadImagePolicy::kError:
      return "error";
    case BadImagePolicy::kSkip:
      return "skip";
  }
  return "";
}

inline const char* to_string(ScheduleType value) {
  switch (value) {
    case ScheduleType::kConstant:
      return "constant";
    case ScheduleType::kStep:
      return "step";
    case ScheduleType::kMultistep:
      return "multistep";
    case ScheduleType::kCosine:
      return "cosine";
    case ScheduleType::kOneCycle:
      return "onecycle";
  }
  return "";
}

inline const char* to_string(OptimizerType value) {
  switch (value) {
    case OptimizerType::kSgd:
      return "sgd";
    case OptimizerType::kAdamW:
      return "adamw";
  }
  return "";
}

inline const char* to_string(Metric value) {
  switch (value) {
    case Metric::kValLoss:
      return "val_loss";
    case Metric::kValAcc:
      return "val_acc";
    case Metric::kValLossEma:
      return "val_loss_ema";
    case Metric::kValAccEma:
      return "val_acc_ema";
  }
  return "";
}

inline const char* to_string(EmaBuffers value) {
  switch (value) {
    case EmaBuffers::kAverage:
      return "average";
    case EmaBuffers::kCopy:
      return "copy";
  }
  return "";
}

inline const char* to_string(FeatureCacheMode value) {
  switch (value) {
    case FeatureCacheMode::kAuto:
      return "auto";
    case FeatureCacheMode::kOff:
      return "off";
    case FeatureCacheMode::kDisk:
      return "disk";
  }
  return "";
}

inline const char* to_string(Precision value) {
  switch (value) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
  }
  return "";
}

inline const char* to_string(MemoryFormat value) {
  switch (value) {
    case MemoryFormat::kChannelsLast:
      return "channels_last";
    case MemoryFormat::kContiguous:
      return "contiguous";
  }
  return "";
}

inline const char* to_string(DistBackend value) {
  switch (value) {
    case DistBackend::kAuto:
      return "auto";
    case DistBackend::kGloo:
      return "gloo";
    case DistBackend::kNccl:
      return "nccl";
  }
  return "";
}

}  // namespace ftl
