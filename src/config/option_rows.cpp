// The option table's rows: each option's key, help, field, range, and its part in resuming and
// in the feature cache.
#include <cmath>

#include "ftl/util/errors.h"
#include "option_table.h"

namespace ftl::option_table {
namespace {

// train.class_weights: "none", "balanced" or an object of positive weights by class name.
// Whether the names are classes of the dataset is checked when the data is known.
void check_class_weights(const std::string& key, const nlohmann::json& value) {
  if (value.is_string()) {
    const auto text = value.get<std::string>();
    if (text == "none" || text == "balanced") return;
  } else if (value.is_object() && !value.empty()) {
    for (const auto& [name, weight] : value.items()) {
      if (!weight.is_number() || !(weight.get<double>() > 0) ||
          !std::isfinite(weight.get<double>())) {
        throw ConfigError(key + "." + name + " must be a number > 0, got " + weight.dump());
      }
    }
    return;
  }
  throw ConfigError(key +
                    " must be \"none\", \"balanced\" or an object of class weights "
                    "({\"cat\": 2.0}), got " +
                    value.dump());
}

/// model.head: "auto" or a dotted module path; model.freeze: a policy or up_to: a path.
constexpr const char* kHeadPattern = "auto|[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*";
constexpr const char* kFreezePattern = "none|backbone|up_to:[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)*";

constexpr double kSecondsPerDay = 86400.0;

}  // namespace

Option any_value(const char* key, const char* help, FieldOf field) {
  Option option;
  option.key = key;
  option.help = help;
  option.field = field;
  return option;
}

Option required_text(const char* key, const char* help, FieldOf field) {
  Option option = any_value(key, help, field);
  option.required = true;
  return option;
}

// A row whose field returns a choice_field.
Option choice(const char* key, const char* help, FieldOf field) {
  return any_value(key, help, field);
}

Option matching(const char* key, const char* help, FieldOf field, const char* pattern) {
  Option option = any_value(key, help, field);
  option.pattern = pattern;
  return option;
}

Option in_range(const char* key, const char* help, FieldOf field, double min, double max) {
  Option option = any_value(key, help, field);
  option.min = min;
  option.max = max;
  return option;
}

Option positive(const char* key, const char* help, FieldOf field) {
  Option option = in_range(key, help, field, 0, kInf);
  option.min_exclusive = true;
  return option;
}

Option below(const char* key, const char* help, FieldOf field, double min, double max) {
  Option option = in_range(key, help, field, min, max);
  option.max_exclusive = true;
  return option;
}

// A pair of numbers, each in [min, max), in either order.
Option pair_below(const char* key, const char* help, FieldOf field, double min, double max) {
  Option option = below(key, help, field, min, max);
  option.any_order = true;
  return option;
}

Option open_low(const char* key, const char* help, FieldOf field, double min, double max) {
  Option option = in_range(key, help, field, min, max);
  option.min_exclusive = true;
  return option;
}

Option json_value(const char* key, const char* help, FieldOf field, JsonCheck check) {
  Option option = any_value(key, help, field);
  option.check_json = check;
  return option;
}

// The option table: the single place that names each key, in the order the help lists them.
const std::vector<Option>& options() {
  static const std::vector<Option> kOptions = {
      required_text("model.path",
                    "TorchScript classifier file (torch.jit.script of a torchvision model)",
                    [](Config& c) -> FieldPtr { return &c.model.path; }),
      matching(
          "model.head",
          "\"auto\" (the family's head: fc, classifier's last Linear, heads.head, head, "
          "SqueezeNet's last conv) or a module path (\"classifier.3\")",
          [](Config& c) -> FieldPtr { return &c.model.head; }, kHeadPattern),
      matching(
          "model.freeze",
          "\"none\", \"backbone\" (all but the head) or \"up_to:NAME\" (the modules from the "
          "first to NAME, a child or a dotted path such as layer2 or features.6)",
          [](Config& c) -> FieldPtr { return &c.model.freeze; }, kFreezePattern),
      in_range(
          "model.unfreeze_at_epoch",
          "from this epoch on the whole network trains (staged fine-tuning); 0 = never",
          [](Config& c) -> FieldPtr { return &c.model.unfreeze_at_epoch; }, 0, 1000000),
      positive("model.backbone_lr_mult", "backbone lr = optimizer.lr x this (the head gets lr)",
               [](Config& c) -> FieldPtr { return &c.model.backbone_lr_mult; }),
      choice("model.batchnorm",
             "\"follow\" (BatchNorm of frozen layers stays in eval mode), \"frozen\" (all in "
             "eval mode) or \"train\"",
             [](Config& c) -> FieldPtr {
               return choice_field(
                   &c.model.batchnorm,
                   {BatchNormPolicy::kFollow, BatchNormPolicy::kFrozen, BatchNormPolicy::kTrain});
             }),
      required_text("data.train",
                    "training images: ImageFolder root (one folder per class) or CSV manifest",
                    [](Config& c) -> FieldPtr { return &c.data.train; }),
      any_value("data.val",
                "validation images: ImageFolder root or CSV manifest (the same classes); "
                "required unless data.val_fraction is set",
                [](Config& c) -> FieldPtr { return &c.data.val; }),
      below(
          "data.val_fraction",
          "> 0: hold out this share of each class of data.train for validation instead of "
          "data.val (stratified, seeded by train.seed; written as train_split.csv and "
          "val_split.csv)",
          [](Config& c) -> FieldPtr { return &c.data.val_fraction; }, 0, 1),
      in_range(
          "data.image_size", "side of the square network input in pixels",
          [](Config& c) -> FieldPtr { return &c.data.preprocess.image_size; }, 8, 4096)
          .in_feature_key(FeatureKey::kPreprocess),
      in_range(
          "data.resize",
          "center_crop: the shorter side is resized to this before the centre crop; 0 = "
          "image_size x 256/224 (torchvision's Resize(256) + CenterCrop(224))",
          [](Config& c) -> FieldPtr { return &c.data.preprocess.resize; }, 0, 8192)
          .in_feature_key(FeatureKey::kPreprocess),
      choice("data.eval_resize",
             "\"center_crop\" (resize the shorter side, crop the centre square) or \"stretch\" "
             "(resize straight to the square)",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.data.preprocess.eval_resize,
                                   {EvalResize::kCenterCrop, EvalResize::kStretch});
             })
          .in_feature_key(FeatureKey::kPreprocess),
      any_value("data.augment",
                "training images get a random-resized crop, flip and jitter (off: the eval "
                "transform)",
                [](Config& c) -> FieldPtr { return &c.data.augment.enabled; }),
      open_low(
          "data.crop_scale", "augment: [min, max] crop area as a share of the image",
          [](Config& c) -> FieldPtr { return &c.data.augment.scale; }, 0, 1),
      open_low(
          "data.crop_ratio", "augment: [min, max] crop width / height",
          [](Config& c) -> FieldPtr { return &c.data.augment.ratio; }, 0, 100),
      any_value("data.hflip", "augment: mirror half of the images left to right",
                [](Config& c) -> FieldPtr { return &c.data.augment.hflip; }),
      in_range(
          "data.color_jitter",
          "augment: brightness, contrast and saturation factors drawn from [1-j, 1+j]; 0 = off",
          [](Config& c) -> FieldPtr { return &c.data.augment.color_jitter; }, 0, 1),
      choice("data.auto_augment",
             "augment: \"none\", \"trivial_wide\" (torchvision's TrivialAugmentWide) or \"rand\" "
             "(RandAugment, see data.rand_augment), after the crop and flip",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.data.augment.auto_augment,
                                   {AutoAugmentPolicy::kNone, AutoAugmentPolicy::kTrivialWide,
                                    AutoAugmentPolicy::kRand});
             }),
      in_range(
          "data.rand_augment.num_ops", "RandAugment: operations applied to each image",
          [](Config& c) -> FieldPtr { return &c.data.augment.rand_augment.num_ops; }, 1, 16),
      in_range(
          "data.rand_augment.magnitude",
          "RandAugment: the operations' strength, a bin of 0..30 over each one's range",
          [](Config& c) -> FieldPtr { return &c.data.augment.rand_augment.magnitude; }, 0, 30),
      in_range(
          "data.rand_augment.magnitude_std",
          "RandAugment: each draw's magnitude ~ N(magnitude, this), clipped (timm's mstd); 0 = "
          "fixed",
          [](Config& c) -> FieldPtr { return &c.data.augment.rand_augment.magnitude_std; }, 0, 30),
      in_range(
          "data.random_erasing.p",
          "augment: the chance that an image gets one random box erased (torchvision's "
          "RandomErasing); 0 = off",
          [](Config& c) -> FieldPtr { return &c.data.augment.erasing.p; }, 0, 1),
      in_range(
          "data.random_erasing.scale",
          "random erasing: [min, max] box area as a share of the image",
          [](Config& c) -> FieldPtr { return &c.data.augment.erasing.scale; }, 0, 1),
      positive("data.random_erasing.ratio", "random erasing: [min, max] box height / width",
               [](Config& c) -> FieldPtr { return &c.data.augment.erasing.ratio; }),
      any_value("data.random_erasing.value",
                "random erasing: \"random\" (normal noise) or the number written in the box",
                [](Config& c) -> FieldPtr { return &c.data.augment.erasing.value; }),
      any_value("data.exif_orientation", "turn photos upright by their EXIF orientation tag",
                [](Config& c) -> FieldPtr { return &c.data.preprocess.exif_orientation; })
          .in_feature_key(FeatureKey::kPreprocess),
      any_value("data.jpeg_dct_scaling",
                "decode JPEGs at least twice the needed size at 1/2, 1/4 or 1/8 scale (faster)",
                [](Config& c) -> FieldPtr { return &c.data.preprocess.jpeg_dct_scaling; })
          .in_feature_key(FeatureKey::kPreprocess),
      choice("data.cache",
             "\"none\" or \"memory\" (decoded, resized images kept across epochs, up to "
             "data.cache_max_bytes)",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.data.cache, {DataCache::kNone, DataCache::kMemory});
             }),
      in_range(
          "data.cache_max_bytes",
          "the memory cache's budget in bytes; images beyond it decode "
          "every epoch",
          [](Config& c) -> FieldPtr { return &c.data.cache_max_bytes; }, 0, kMaxExactInteger),
      in_range(
          "data.batch_size", "images per batch: per optimizer step unless train.accumulate_steps",
          [](Config& c) -> FieldPtr { return &c.data.batch_size; }, 1, 65536),
      in_range(
          "data.workers", "image-decoding threads; 0 = one per 4 cores, at least 1",
          [](Config& c) -> FieldPtr { return &c.data.workers; }, 0, 256),
      in_range(
          "data.prefetch",
          "batches decoded ahead at most (the loader's memory bound); 0 = 2 x "
          "workers",
          [](Config& c) -> FieldPtr { return &c.data.prefetch; }, 0, 1024),
      choice("data.on_bad_image",
             "\"error\" (a corrupt image stops the run) or \"skip\" (it is left out and listed "
             "in bad_images.txt)",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.data.on_bad_image,
                                   {BadImagePolicy::kError, BadImagePolicy::kSkip});
             }),
      choice("optimizer.type",
             "\"sgd\" (SGD with momentum) or \"adamw\" (Adam with decoupled weight decay)",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.optimizer.type, {OptimizerType::kSgd, OptimizerType::kAdamW});
             }),
      positive("optimizer.lr", "learning rate (of the head; see model.backbone_lr_mult)",
               [](Config& c) -> FieldPtr { return &c.optimizer.lr; }),
      in_range(
          "optimizer.momentum", "SGD momentum",
          [](Config& c) -> FieldPtr { return &c.optimizer.momentum; }, 0, 1),
      pair_below(
          "optimizer.betas", "AdamW: [beta1, beta2], the decay rates of the gradient's moments",
          [](Config& c) -> FieldPtr { return &c.optimizer.betas; }, 0, 1),
      positive("optimizer.eps", "AdamW: added to the root of the second moment",
               [](Config& c) -> FieldPtr { return &c.optimizer.eps; }),
      in_range(
          "optimizer.weight_decay",
          "SGD: L2 penalty added to the gradient; AdamW: decoupled decay (w -= lr x this x w)",
          [](Config& c) -> FieldPtr { return &c.optimizer.weight_decay; }, 0, kInf),
      any_value("optimizer.no_decay_bn_bias", "no weight decay on biases and BatchNorm weights",
                [](Config& c) -> FieldPtr { return &c.optimizer.no_decay_bn_bias; }),
      any_value("optimizer.nesterov", "SGD: Nesterov momentum (needs momentum > 0)",
                [](Config& c) -> FieldPtr { return &c.optimizer.nesterov; }),
      open_low(
          "optimizer.layer_decay",
          "layer-wise lr decay: lr x this ** (head's depth - a parameter's depth), the depth "
          "counted in the family's blocks (timm's layer_decay); 1 = off",
          [](Config& c) -> FieldPtr { return &c.optimizer.layer_decay; }, 0, 1),
      choice("optimizer.schedule.type",
             "lr schedule: constant, step, multistep, cosine or onecycle",
             [](Config& c) -> FieldPtr {
               return choice_field(
                   &c.optimizer.schedule.type,
                   {ScheduleType::kConstant, ScheduleType::kStep, ScheduleType::kMultistep,
                    ScheduleType::kCosine, ScheduleType::kOneCycle});
             }),
      in_range(
          "optimizer.schedule.step_size", "step: lr x gamma every this many epochs",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.step_size; }, 0, 1000000),
      in_range(
          "optimizer.schedule.milestones", "multistep: lr x gamma after each of these epochs",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.milestones; }, 1, 1000000),
      positive("optimizer.schedule.gamma", "step, multistep: the decay factor",
               [](Config& c) -> FieldPtr { return &c.optimizer.schedule.gamma; }),
      in_range(
          "optimizer.schedule.min_lr", "cosine: the lr reached at the last epoch",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.min_lr; }, 0, kInf),
      in_range(
          "optimizer.schedule.warmup_epochs",
          "linear warmup from 0, updated every step; may be fractional",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.warmup_epochs; }, 0, 1000000),
      in_range(
          "optimizer.schedule.max_lr", "onecycle: the peak lr; 0 = optimizer.lr",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.max_lr; }, 0, kInf),
      open_low(
          "optimizer.schedule.pct_start", "onecycle: the share of the steps over which lr rises",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.pct_start; }, 0, 1),
      in_range(
          "optimizer.schedule.div", "onecycle: the first lr is max_lr / div",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.div; }, 1, kInf),
      in_range(
          "optimizer.schedule.div_final", "onecycle: the last lr is max_lr / div_final",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.div_final; }, 1, kInf),
      below(
          "optimizer.schedule.momentum_range",
          "onecycle: [low, high]: SGD's momentum (AdamW's beta1) falls from high to low while lr "
          "rises, then climbs back",
          [](Config& c) -> FieldPtr { return &c.optimizer.schedule.momentum_range; }, 0, 1),
      in_range(
          "train.epochs", "passes over the training set",
          [](Config& c) -> FieldPtr { return &c.train.epochs; }, 1, 1000000)
          .resumable(OnResume::kMayGrow),
      in_range(
          "train.accumulate_steps",
          "batches whose gradients are summed into one optimizer step (an effective batch of "
          "data.batch_size x this)",
          [](Config& c) -> FieldPtr { return &c.train.accumulate_steps; }, 1, 65536),
      in_range(
          "train.seed", "seeds the head initialisation and the per-epoch shuffle",
          [](Config& c) -> FieldPtr { return &c.train.seed; }, 0, kMaxExactInteger),
      in_range(
          "train.threads",
          "intra-op compute threads; 0 = OMP_NUM_THREADS or the cores available to the process",
          [](Config& c) -> FieldPtr { return &c.train.threads; }, 0, 1024),
      // Not in the feature-cache key as written: the key holds the kind of the device it
      // resolves to (cpu or cuda), whatever its number.
      matching(
          "train.device", "\"cpu\", \"cuda\" or \"cuda:N\"",
          [](Config& c) -> FieldPtr { return &c.train.device; }, "cpu|cuda|cuda:[0-9]+"),
      below(
          "train.label_smoothing", "cross-entropy label smoothing",
          [](Config& c) -> FieldPtr { return &c.train.label_smoothing; }, 0, 1),
      json_value(
          "train.class_weights",
          "\"none\", \"balanced\" (from training counts) or {\"class\": weight}",
          [](Config& c) -> FieldPtr { return &c.train.class_weights; }, check_class_weights),
      in_range(
          "train.mixup.mixup_alpha",
          "mixup: the blend's lambda ~ Beta(a, a) (timm's Mixup; 0.8 in its recipe); 0 = off",
          [](Config& c) -> FieldPtr { return &c.train.mixup.mixup_alpha; }, 0, kInf),
      in_range(
          "train.mixup.cutmix_alpha",
          "CutMix: the kept area's lambda ~ Beta(a, a) (1.0 in timm's recipe); 0 = off",
          [](Config& c) -> FieldPtr { return &c.train.mixup.cutmix_alpha; }, 0, kInf),
      in_range(
          "train.mixup.prob", "mixup/CutMix: the chance that a batch is mixed",
          [](Config& c) -> FieldPtr { return &c.train.mixup.prob; }, 0, 1),
      in_range(
          "train.mixup.switch_prob",
          "mixup/CutMix: with both alphas above 0, the chance that a batch takes CutMix",
          [](Config& c) -> FieldPtr { return &c.train.mixup.switch_prob; }, 0, 1),
      below(
          "train.ema.decay",
          "moving average of the weights, validated beside them (timm's ModelEmaV3): its decay "
          "per optimizer step; 0 = off",
          [](Config& c) -> FieldPtr { return &c.train.ema.decay; }, 0, 1),
      any_value("train.ema.warmup",
                "EMA: ramp the decay up from 0 over the first steps (timm's model_ema_warmup)",
                [](Config& c) -> FieldPtr { return &c.train.ema.warmup; }),
      choice("train.ema.buffers",
             "EMA: BatchNorm's running statistics \"average\"d like the weights, or \"copy\"-ed",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.train.ema.buffers, {EmaBuffers::kAverage, EmaBuffers::kCopy});
             }),
      in_range(
          "train.grad_clip_norm", "clip the gradients' total L2 norm to this; 0 = off",
          [](Config& c) -> FieldPtr { return &c.train.grad_clip_norm; }, 0, kInf),
      choice("train.early_stopping.metric", "early stopping watches val_loss or val_acc",
             [](Config& c) -> FieldPtr {
               return choice_field(
                   &c.train.early_stopping.metric,
                   {Metric::kValLoss, Metric::kValAcc, Metric::kValLossEma, Metric::kValAccEma});
             }),
      in_range(
          "train.early_stopping.patience",
          "stop after this many epochs without improvement; 0 = off",
          [](Config& c) -> FieldPtr { return &c.train.early_stopping.patience; }, 0, 1000000),
      in_range(
          "train.early_stopping.min_delta", "smallest change that counts as an improvement",
          [](Config& c) -> FieldPtr { return &c.train.early_stopping.min_delta; }, 0, kInf),
      choice("train.best_metric", "best.pt and keep_top_k rank epochs by val_acc or val_loss",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.train.best_metric, {Metric::kValAcc, Metric::kValLoss,
                                                          Metric::kValAccEma, Metric::kValLossEma});
             }),
      in_range(
          "train.keep_top_k", "also keep the k best epochs as checkpoints/epoch_NNN.pt",
          [](Config& c) -> FieldPtr { return &c.train.keep_top_k; }, 0, 1000),
      any_value("train.deterministic", "repeatable runs: resume gives bit-identical weights",
                [](Config& c) -> FieldPtr { return &c.train.deterministic; }),
      in_range(
          "train.checkpoint_every_steps", "also save last.pt every N steps; 0 = at epoch ends",
          [](Config& c) -> FieldPtr { return &c.train.checkpoint_every_steps; }, 0, 1e9),
      // Which epochs are scored changes what best.pt and early stopping can see, not what
      // the weights learn: a resumed run may change it.
      in_range(
          "train.val_every",
          "validate after every N-th epoch and after the last; best.pt, keep_top_k and early "
          "stopping rank the validated epochs",
          [](Config& c) -> FieldPtr { return &c.train.val_every; }, 1, 1000000)
          .resumable(OnResume::kMayChange),
      // Where the head's inputs come from, and how long a rank waits for its peers, change the
      // speed or the failure mode, not what is learnt: a resumed run may change them.
      choice("train.feature_cache",
             "frozen backbone without augmentation: \"auto\" runs the backbone once per image "
             "and trains the head on its features, \"disk\" also keeps them for later runs, "
             "\"off\" runs it every step",
             [](Config& c) -> FieldPtr {
               return choice_field(
                   &c.train.feature_cache,
                   {FeatureCacheMode::kAuto, FeatureCacheMode::kOff, FeatureCacheMode::kDisk});
             })
          .resumable(OnResume::kMayChange),
      any_value("train.feature_cache_dir",
                "feature_cache \"disk\": its folder; \"\" = $XDG_CACHE_HOME/ftl/features or "
                "~/.cache/ftl/features",
                [](Config& c) -> FieldPtr { return &c.train.feature_cache_dir; })
          .resumable(OnResume::kMayChange),
      choice("train.precision",
             "\"fp32\" or \"bf16\" (autocast: bfloat16 convolutions and matmuls; needs a CPU "
             "with AVX512-BF16 or AMX, or a CUDA GPU of compute capability 8.0+)",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.train.precision, {Precision::kFp32, Precision::kBf16});
             })
          .in_feature_key(FeatureKey::kValue),
      choice("train.memory_format",
             "\"channels_last\" (NHWC, faster convolutions on CPU) or \"contiguous\" (NCHW)",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.train.memory_format,
                                   {MemoryFormat::kChannelsLast, MemoryFormat::kContiguous});
             })
          .in_feature_key(FeatureKey::kValue),
      in_range(
          "dist.timeout_s",
          "distributed runs: seconds a rank waits for the others (rendezvous, each collective) "
          "before it stops with an error",
          [](Config& c) -> FieldPtr { return &c.dist.timeout_s; }, 1, kSecondsPerDay)
          .resumable(OnResume::kMayChange),
      choice("dist.backend",
             "distributed runs: \"auto\" (gloo on CPU, nccl on CUDA), \"gloo\" or \"nccl\"",
             [](Config& c) -> FieldPtr {
               return choice_field(&c.dist.backend,
                                   {DistBackend::kAuto, DistBackend::kGloo, DistBackend::kNccl});
             })
          .resumable(OnResume::kMayChange),
      required_text("output.dir", "run directory: config.json, metrics.jsonl/csv, checkpoints/",
                    [](Config& c) -> FieldPtr { return &c.output.dir; }),
  };
  return kOptions;
}

}  // namespace ftl::option_table
