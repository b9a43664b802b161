// The rules that no single row of the option table can check: keys used only by some value of
// another key, and ranges that depend on another key.
#include "ftl/util/errors.h"
#include "option_table.h"

namespace ftl {
namespace {

// Whether any BatchNorm layer will run in training mode at some point of the run, where a
// batch of one image cannot be normalised.
bool batchnorm_ever_trains(const ModelConfig& model) {
  if (model.batchnorm == BatchNormPolicy::kFrozen) return false;
  if (model.batchnorm == BatchNormPolicy::kTrain) return true;
  return model.freeze.kind != FreezePolicy::Kind::kBackbone || model.unfreeze_at_epoch > 0;
}

// onecycle's own keys, as validate_schedule checks the others'; `type` names the schedule.
void validate_one_cycle(const ScheduleConfig& schedule, const std::string& type) {
  const ScheduleConfig defaults;
  if (schedule.type != ScheduleType::kOneCycle) {
    const bool changed = schedule.max_lr != defaults.max_lr ||
                         schedule.pct_start != defaults.pct_start || schedule.div != defaults.div ||
                         schedule.div_final != defaults.div_final ||
                         schedule.momentum_range != defaults.momentum_range;
    if (changed) {
      throw ConfigError(
          "optimizer.schedule.max_lr, pct_start, div, div_final and momentum_range are used "
          "only by type \"onecycle\", not by " +
          type);
    }
    return;
  }
  if (schedule.warmup_epochs > 0) {
    throw ConfigError("optimizer.schedule.warmup_epochs is not used by " + type +
                      ", whose lr already rises from max_lr / div over pct_start of the steps");
  }
}

// Each optimizer's own keys must be set for it and only for it, as the schedules' are.
void validate_optimizer(const OptimizerConfig& optimizer) {
  const OptimizerConfig defaults;
  const std::string type = std::string("optimizer.type \"") + to_string(optimizer.type) + "\"";
  const bool one_cycle = optimizer.schedule.type == ScheduleType::kOneCycle;
  if (optimizer.type == OptimizerType::kAdamW) {
    if (optimizer.momentum != defaults.momentum || optimizer.nesterov != defaults.nesterov) {
      throw ConfigError(
          "optimizer.momentum and optimizer.nesterov are used only by optimizer.type \"sgd\", "
          "not by " +
          type + " (its momentum is optimizer.betas[0])");
    }
    if (one_cycle && optimizer.betas[0] != defaults.betas[0]) {
      throw ConfigError(
          "optimizer.betas[0] is not used with optimizer.schedule.type \"onecycle\", which "
          "moves beta1 along optimizer.schedule.momentum_range");
    }
    return;
  }
  if (optimizer.betas != defaults.betas || optimizer.eps != defaults.eps) {
    throw ConfigError(
        "optimizer.betas and optimizer.eps are used only by optimizer.type "
        "\"adamw\", not by " +
        type);
  }
  if (one_cycle && optimizer.momentum != defaults.momentum) {
    throw ConfigError(
        "optimizer.momentum is not used with optimizer.schedule.type \"onecycle\", which "
        "moves the momentum along optimizer.schedule.momentum_range");
  }
  const double momentum = one_cycle ? optimizer.schedule.momentum_range[0] : optimizer.momentum;
  if (optimizer.nesterov && momentum <= 0) {
    throw ConfigError(std::string("optimizer.nesterov needs ") +
                      (one_cycle ? "optimizer.schedule.momentum_range" : "optimizer.momentum") +
                      " > 0, got " + option_table::format_number(momentum));
  }
}

// Each schedule's own keys must be set for it and only for it, so that a typo such as
// {"type": "cosine", "step_size": 3} is reported instead of silently ignored.
void validate_schedule(const ScheduleConfig& schedule, double lr, std::int64_t epochs) {
  const std::string type =
      std::string("optimizer.schedule.type \"") + to_string(schedule.type) + "\"";
  const ScheduleConfig defaults;
  const bool step = schedule.type == ScheduleType::kStep;
  const bool multistep = schedule.type == ScheduleType::kMultistep;
  if (step && schedule.step_size < 1) {
    throw ConfigError(type + " needs optimizer.schedule.step_size >= 1");
  }
  if (!step && schedule.step_size != defaults.step_size) {
    throw ConfigError("optimizer.schedule.step_size is used only by type \"step\", not by " + type);
  }
  if (multistep && schedule.milestones.empty()) {
    throw ConfigError(type + " needs optimizer.schedule.milestones, e.g. [30, 60]");
  }
  if (!multistep && !schedule.milestones.empty()) {
    throw ConfigError("optimizer.schedule.milestones is used only by type \"multistep\", not by " +
                      type);
  }
  const bool decays = step || multistep;
  if (!decays && schedule.gamma != defaults.gamma) {
    throw ConfigError(
        "optimizer.schedule.gamma is used only by types \"step\" and "
        "\"multistep\", not by " +
        type);
  }
  validate_one_cycle(schedule, type);
  const bool cosine = schedule.type == ScheduleType::kCosine;
  if (!cosine && schedule.min_lr != defaults.min_lr) {
    throw ConfigError("optimizer.schedule.min_lr is used only by type \"cosine\", not by " + type);
  }
  if (cosine && schedule.min_lr > lr) {
    throw ConfigError("optimizer.schedule.min_lr must be <= optimizer.lr (" +
                      option_table::format_number(lr) + "), got " +
                      option_table::format_number(schedule.min_lr));
  }
  if (schedule.warmup_epochs >= static_cast<double>(epochs) && schedule.warmup_epochs > 0) {
    throw ConfigError("optimizer.schedule.warmup_epochs must be < train.epochs (" +
                      std::to_string(epochs) + "), got " +
                      option_table::format_number(schedule.warmup_epochs));
  }
}

// The resize and augmentation keys that only some settings use must not be set for the
// others, so that {"augment": false, "color_jitter": 0.4} is reported instead of ignored.
void validate_transforms(const DataConfig& data) {
  const DataConfig defaults;
  const Preprocess& preprocess = data.preprocess;
  if (preprocess.resize != 0 && preprocess.eval_resize == EvalResize::kStretch) {
    throw ConfigError(
        "data.resize is used only by data.eval_resize \"center_crop\", not by "
        "\"stretch\" (which resizes straight to data.image_size)");
  }
  if (preprocess.resize != 0 && preprocess.resize < preprocess.image_size) {
    throw ConfigError("data.resize must be >= data.image_size (" +
                      std::to_string(preprocess.image_size) + ") or 0, got " +
                      std::to_string(preprocess.resize));
  }
  const Augment& augment = data.augment;
  if (!augment.enabled) {
    const Augment& off = defaults.augment;
    const bool changed = augment.scale != off.scale || augment.ratio != off.ratio ||
                         augment.hflip != off.hflip || augment.color_jitter != off.color_jitter ||
                         augment.auto_augment != off.auto_augment ||
                         augment.rand_augment != off.rand_augment || augment.erasing != off.erasing;
    if (changed) {
      throw ConfigError(
          "data.crop_scale, data.crop_ratio, data.hflip, data.color_jitter, data.auto_augment, "
          "data.rand_augment and data.random_erasing are used only when data.augment is true");
    }
  }
  if (augment.auto_augment != AutoAugmentPolicy::kRand &&
      augment.rand_augment != defaults.augment.rand_augment) {
    throw ConfigError("data.rand_augment is used only by data.auto_augment \"rand\", not by \"" +
                      std::string(to_string(augment.auto_augment)) + "\"");
  }
  if (data.cache != DataCache::kMemory && data.cache_max_bytes != defaults.cache_max_bytes) {
    throw ConfigError("data.cache_max_bytes is used only by data.cache \"memory\"");
  }
}

// The EMA keys are used only with an average, and so are the metrics of it.
void validate_ema(const TrainConfig& train) {
  const EmaConfig off;
  if (!train.ema.enabled() &&
      (train.ema.warmup != off.warmup || train.ema.buffers != off.buffers)) {
    throw ConfigError(
        "train.ema.warmup and train.ema.buffers are used only when train.ema.decay "
        "is above 0");
  }
  for (const auto& [key, metric] :
       {std::pair{"train.best_metric", train.best_metric},
        std::pair{"train.early_stopping.metric", train.early_stopping.metric}}) {
    if (is_ema_metric(metric) && !train.ema.enabled()) {
      throw ConfigError(std::string(key) + " \"" + to_string(metric) +
                        "\" needs a moving average of the weights: set train.ema.decay "
                        "(e.g. 0.999)");
    }
  }
}

// The mixing keys that only some settings use, as validate_transforms does for augmentation.
void validate_mixup(const MixupConfig& mixup) {
  const MixupConfig off;
  if (!mixup.enabled() && (mixup.prob != off.prob || mixup.switch_prob != off.switch_prob)) {
    throw ConfigError(
        "train.mixup.prob and train.mixup.switch_prob are used only when "
        "train.mixup.mixup_alpha or train.mixup.cutmix_alpha is above 0");
  }
  const bool both = mixup.mixup_alpha > 0 && mixup.cutmix_alpha > 0;
  if (!both && mixup.switch_prob != off.switch_prob) {
    throw ConfigError(
        "train.mixup.switch_prob is used only when both train.mixup.mixup_alpha and "
        "train.mixup.cutmix_alpha are above 0");
  }
}

}  // namespace

void validate_config(const Config& config) {
  // A config built in code (a library caller, a test) has not been through the table's ranges.
  config_from_json(config_to_json(config));
  Config copy = config;
  for (const option_table::Option& option : option_table::options()) {
    if (!option.required) continue;
    const std::string* value = std::get<std::string*>(option.field(copy));
    if (value->empty()) {
      throw ConfigError(std::string(option.key) + " is required (" + option.help + ")");
    }
  }
  if (config.data.val.empty() && config.data.val_fraction == 0) {
    throw ConfigError(
        "data.val is required (validation images: ImageFolder root or CSV manifest), or set "
        "data.val_fraction to hold out part of data.train");
  }
  if (!config.data.val.empty() && config.data.val_fraction > 0) {
    throw ConfigError("data.val and data.val_fraction exclude each other: data.val is \"" +
                      config.data.val + "\", data.val_fraction is " +
                      option_table::format_number(config.data.val_fraction));
  }
  if (batchnorm_ever_trains(config.model) && config.data.batch_size < 2) {
    throw ConfigError(
        "data.batch_size must be >= 2 when BatchNorm layers train (set model.batchnorm "
        "\"frozen\" to train with batches of one), got " +
        std::to_string(config.data.batch_size));
  }
  validate_optimizer(config.optimizer);
  const ModelConfig& model = config.model;
  if (model.unfreeze_at_epoch > 0 && model.freeze.kind == FreezePolicy::Kind::kNone) {
    throw ConfigError(
        "model.unfreeze_at_epoch needs a frozen part (model.freeze \"backbone\" or "
        "\"up_to:NAME\"), but model.freeze is \"none\"");
  }
  if (model.unfreeze_at_epoch == 1) {
    throw ConfigError(
        "model.unfreeze_at_epoch must be >= 2 (1 would unfreeze before the first epoch; use "
        "model.freeze \"none\"), got 1");
  }
  validate_schedule(config.optimizer.schedule, config.optimizer.lr, config.train.epochs);
  validate_transforms(config.data);
  validate_mixup(config.train.mixup);
  validate_ema(config.train);
}

}  // namespace ftl
