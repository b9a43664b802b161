#include "ftl/config/config.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <regex>
#include <variant>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

using IntList = std::vector<std::int64_t>;
using Range = std::array<double, 2>;  // [low, high], low <= high

/// An enum field (choices.h) seen through the names of its values, so that one code path
/// parses, checks and writes every choice.
struct ChoiceField {
  std::vector<std::string> names;        // the allowed values' names, in the order errors list
  std::function<std::string()> get;      // the name of the field's value
  std::function<void(std::size_t)> set;  // stores the value named names[i]
};

using FieldPtr = std::variant<std::string*, std::int64_t*, double*, bool*, IntList*, Range*,
                              nlohmann::json*, ChoiceField, ErasingFill*, FreezePolicy*>;

constexpr double kInf = std::numeric_limits<double>::infinity();

using FieldOf = FieldPtr (*)(Config&);

/// Checks a free-form JSON value (a field of type nlohmann::json); throws ConfigError.
using JsonCheck = void (*)(const std::string& key, const nlohmann::json& value);

/// One row of the option table. Numbers (and the items of integer lists) must lie in
/// [min, max] (either end exclusive when flagged); strings must match pattern when it is set;
/// a choice must name one of its field's allowed values. Rows are made by the named helpers
/// below, so each row reads as what it is; the marks for resuming and the feature cache are
/// added to a row by its member functions.
struct Option {
  const char* key = "";
  const char* help = "";
  FieldOf field = nullptr;
  double min = -kInf;
  double max = kInf;
  bool min_exclusive = false;
  bool max_exclusive = false;
  bool required = false;
  bool any_order = false;  // a pair of numbers that need not be [low, high] (AdamW's betas)
  const char* pattern = nullptr;
  JsonCheck check_json = nullptr;
  OnResume on_resume = OnResume::kFixed;
  FeatureKey feature_key = FeatureKey::kNo;

  /// The row, marked as one whose value a resumed run may change (or only raise).
  Option resumable(OnResume rule) const {
    Option option = *this;
    option.on_resume = rule;
    return option;
  }
  /// The row, marked as part of the feature-cache key.
  Option in_feature_key(FeatureKey part) const {
    Option option = *this;
    option.feature_key = part;
    return option;
  }
};

/// The field of a choice: `allowed` lists its values in the order that errors name them.
template <typename Enum>
ChoiceField choice_field(Enum* field, std::vector<Enum> allowed) {
  ChoiceField choice;
  for (const Enum value : allowed) choice.names.emplace_back(to_string(value));
  choice.get = [field] { return std::string(to_string(*field)); };
  choice.set = [field, allowed](std::size_t index) { *field = allowed[index]; };
  return choice;
}

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

/// Largest integer that JSON numbers (doubles) carry exactly.
constexpr double kMaxExactInteger = 9007199254740991.0;
constexpr double kSecondsPerDay = 86400.0;

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

std::string format_number(double value) {
  if (std::isfinite(value) && std::floor(value) == value && std::abs(value) <= kMaxExactInteger) {
    return std::to_string(static_cast<long long>(value));
  }
  return nlohmann::json(value).dump();
}

// Plain edit distance, to suggest the key the user probably meant.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

[[noreturn]] void throw_unknown_key(const std::string& key) {
  constexpr std::size_t kMaxSuggestionDistance = 3;
  std::string message = key + " is not a known key";
  std::size_t best = kMaxSuggestionDistance + 1;
  std::string suggestion;
  for (const Option& option : options()) {
    const std::size_t distance = edit_distance(key, option.key);
    if (distance < best) {
      best = distance;
      suggestion = option.key;
    }
  }
  if (!suggestion.empty()) message += " (did you mean " + suggestion + "?)";
  throw ConfigError(message);
}

const Option& find_option(const std::string& key) {
  for (const Option& option : options()) {
    if (key == option.key) return option;
  }
  throw_unknown_key(key);
}

void check_number(const Option& option, double value) {
  const bool too_low = option.min_exclusive ? value <= option.min : value < option.min;
  const bool too_high = option.max_exclusive ? value >= option.max : value > option.max;
  if (std::isnan(value) || too_low || too_high) {
    std::string range;
    if (option.max == kInf) {
      range = (option.min_exclusive ? "> " : ">= ") + format_number(option.min);
    } else {
      range = std::string("in ") + (option.min_exclusive ? "(" : "[") + format_number(option.min) +
              ", " + format_number(option.max) + (option.max_exclusive ? ")" : "]");
    }
    throw ConfigError(std::string(option.key) + " must be " + range + ", got " +
                      format_number(value));
  }
}

void check_string(const Option& option, const std::string& value) {
  if (option.pattern != nullptr && !std::regex_match(value, std::regex(option.pattern))) {
    throw ConfigError(std::string(option.key) + " must be " + option.help + ", got \"" + value +
                      "\"");
  }
}

// Stores the value that `name` names, or throws ConfigError listing the names.
void set_choice(const Option& option, const ChoiceField& choice, const std::string& name) {
  for (std::size_t i = 0; i < choice.names.size(); ++i) {
    if (name == choice.names[i]) {
      choice.set(i);
      return;
    }
  }
  std::string list;
  for (const std::string& allowed : choice.names) {
    list += (list.empty() ? "\"" : ", \"") + allowed + "\"";
  }
  throw ConfigError(std::string(option.key) + " must be one of " + list + ", got \"" + name + "\"");
}

// Stores a JSON value into the option's field, checking its type and range.
void set_from_json(const Option& option, Config& config, const nlohmann::json& value) {
  const std::string key = option.key;
  const std::string got = ", got " + value.dump();
  FieldPtr field = option.field(config);
  if (auto* choice = std::get_if<ChoiceField>(&field)) {
    if (!value.is_string()) throw ConfigError(key + " must be a string" + got);
    set_choice(option, *choice, value.get<std::string>());
  } else if (auto* text = std::get_if<std::string*>(&field)) {
    if (!value.is_string()) throw ConfigError(key + " must be a string" + got);
    check_string(option, value.get<std::string>());
    **text = value.get<std::string>();
  } else if (auto* integer = std::get_if<std::int64_t*>(&field)) {
    if (!value.is_number_integer()) throw ConfigError(key + " must be an integer" + got);
    const double as_double = value.is_number_unsigned()
                                 ? static_cast<double>(value.get<std::uint64_t>())
                                 : static_cast<double>(value.get<std::int64_t>());
    check_number(option, as_double);
    **integer = value.get<std::int64_t>();
  } else if (auto* real = std::get_if<double*>(&field)) {
    if (!value.is_number()) throw ConfigError(key + " must be a number" + got);
    check_number(option, value.get<double>());
    **real = value.get<double>();
  } else if (auto* flag = std::get_if<bool*>(&field)) {
    if (!value.is_boolean()) throw ConfigError(key + " must be true or false" + got);
    **flag = value.get<bool>();
  } else if (auto* list = std::get_if<IntList*>(&field)) {
    if (!value.is_array()) throw ConfigError(key + " must be a list of integers" + got);
    IntList items;
    for (const nlohmann::json& item : value) {
      if (!item.is_number_integer()) throw ConfigError(key + " must be a list of integers" + got);
      check_number(option, item.get<double>());
      if (!items.empty() && item.get<std::int64_t>() <= items.back()) {
        throw ConfigError(key + " must be strictly increasing" + got);
      }
      items.push_back(item.get<std::int64_t>());
    }
    **list = items;
  } else if (auto* range = std::get_if<Range*>(&field)) {
    const std::string expected =
        key +
        (option.any_order ? " must be two numbers"
                          : " must be [min, max], two numbers with min <= max") +
        got;
    if (!value.is_array() || value.size() != 2 || !value[0].is_number() || !value[1].is_number()) {
      throw ConfigError(expected);
    }
    const Range items = {value[0].get<double>(), value[1].get<double>()};
    for (double item : items) check_number(option, item);
    if (!option.any_order && items[0] > items[1]) throw ConfigError(expected);
    **range = items;
  } else if (auto* free_form = std::get_if<nlohmann::json*>(&field)) {
    option.check_json(key, value);
    **free_form = value;
  } else if (auto* freeze = std::get_if<FreezePolicy*>(&field)) {
    if (!value.is_string()) throw ConfigError(key + " must be a string" + got);
    check_string(option, value.get<std::string>());
    **freeze = FreezePolicy::parse(value.get<std::string>());
  } else if (auto* fill = std::get_if<ErasingFill*>(&field)) {
    if (value == "random") {
      **fill = ErasingFill{};
    } else if (value.is_number() && std::isfinite(value.get<double>())) {
      **fill = ErasingFill{false, value.get<double>()};
    } else {
      throw ConfigError(key + " must be \"random\" or a number" + got);
    }
  }
}

bool is_free_form(const Option& option) { return option.check_json != nullptr; }

// A field's value as JSON: what it points to, or a choice's name.
struct FieldToJson {
  template <typename Value>
  nlohmann::json operator()(Value* value) const {
    return *value;
  }
  nlohmann::json operator()(const ChoiceField& choice) const { return choice.get(); }
  nlohmann::json operator()(FreezePolicy* freeze) const { return freeze->to_string(); }
  nlohmann::json operator()(ErasingFill* fill) const {
    return fill->random ? nlohmann::json("random") : nlohmann::json(fill->value);
  }
};

nlohmann::json field_to_json(const FieldPtr& field) { return std::visit(FieldToJson{}, field); }

// Walks a JSON object, joining keys with dots, and sets every leaf it finds.
void read_object(const nlohmann::json& object, const std::string& prefix, Config& config) {
  for (const auto& [name, value] : object.items()) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const Option* leaf = nullptr;
    for (const Option& option : options()) {
      if (key == option.key) leaf = &option;
    }
    if (value.is_object() && (leaf == nullptr || !is_free_form(*leaf))) {
      // A section ("optimizer") or a typo of one: only known sections may hold keys.
      bool is_section = false;
      for (const Option& option : options()) {
        if (std::string(option.key).rfind(key + ".", 0) == 0) is_section = true;
      }
      if (!is_section) throw_unknown_key(key);
      read_object(value, key, config);
    } else {
      if (leaf == nullptr) throw_unknown_key(key);
      set_from_json(*leaf, config, value);
    }
  }
}

nlohmann::json parse_json_text(const Option& option, const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {  // also numbers beyond a double
    throw ConfigError(std::string(option.key) + ": \"" + text + "\" is not valid JSON");
  }
}

bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();  // the serialiser checks every sequence
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// Parses the text of an override's value into JSON of the field's type, so that it is then
// checked exactly like a value from the file.
nlohmann::json parse_override_value(const Option& option, const Config& config,
                                    const std::string& text) {
  Config scratch = config;
  FieldPtr field = option.field(scratch);
  const std::string bad = std::string(option.key) + " must be ";
  if (std::holds_alternative<std::string*>(field)) return text;
  if (std::holds_alternative<FreezePolicy*>(field)) return text;
  if (std::holds_alternative<ChoiceField>(field)) return text;
  if (std::holds_alternative<ErasingFill*>(field) && text == "random") return text;
  if (std::holds_alternative<nlohmann::json*>(field)) {
    // An object is written as JSON (train.class_weights={"cat": 2}); a word as it is.
    if (!text.empty() && text.front() == '{') return parse_json_text(option, text);
    return text;
  }
  if (std::holds_alternative<IntList*>(field) || std::holds_alternative<Range*>(field)) {
    // "[3, 6]" as JSON, or the shell-friendlier "3,6".
    const std::string json_text = !text.empty() && text.front() == '[' ? text : "[" + text + "]";
    return parse_json_text(option, json_text);
  }
  if (std::holds_alternative<bool*>(field)) {
    if (text == "true") return true;
    if (text == "false") return false;
    throw ConfigError(bad + "true or false, got \"" + text + "\"");
  }
  if (std::holds_alternative<std::int64_t*>(field)) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty()) {
      throw ConfigError(bad + "an integer, got \"" + text + "\"");
    }
    return value;
  }
  // double: strtod accepts what JSON accepts and more ("1e-3", ".5"); reject trailing junk.
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
    const char* expected =
        std::holds_alternative<ErasingFill*>(field) ? "\"random\" or a number" : "a number";
    throw ConfigError(bad + expected + ", got \"" + text + "\"");
  }
  return value;
}

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
                      " > 0, got " + format_number(momentum));
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
    throw ConfigError("optimizer.schedule.min_lr must be <= optimizer.lr (" + format_number(lr) +
                      "), got " + format_number(schedule.min_lr));
  }
  if (schedule.warmup_epochs >= static_cast<double>(epochs) && schedule.warmup_epochs > 0) {
    throw ConfigError("optimizer.schedule.warmup_epochs must be < train.epochs (" +
                      std::to_string(epochs) + "), got " + format_number(schedule.warmup_epochs));
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

FreezePolicy FreezePolicy::parse(const std::string& text) {
  constexpr const char* kUpToPrefix = "up_to:";
  const std::size_t prefix = std::string(kUpToPrefix).size();
  FreezePolicy policy;
  if (text == "none") return policy;
  if (text == "backbone") {
    policy.kind = Kind::kBackbone;
    return policy;
  }
  if (text.rfind(kUpToPrefix, 0) == 0 && text.size() > prefix) {
    policy.kind = Kind::kUpTo;
    policy.up_to = text.substr(prefix);
    return policy;
  }
  throw ConfigError("model.freeze must be \"none\", \"backbone\" or \"up_to:NAME\", got \"" + text +
                    "\"");
}

std::string FreezePolicy::to_string() const {
  switch (kind) {
    case Kind::kNone:
      return "none";
    case Kind::kBackbone:
      return "backbone";
    case Kind::kUpTo:
      return "up_to:" + up_to;
  }
  return "";
}

Config config_from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw ConfigError("the config must be a JSON object, got " + json.dump());
  Config config;
  read_object(json, "", config);
  return config;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot open config file " + path);
  nlohmann::json json;
  try {
    in >> json;
  } catch (const nlohmann::json::exception& error) {  // also numbers beyond a double
    throw ConfigError(path + ": invalid JSON: " + error.what());
  }
  try {
    return config_from_json(json);
  } catch (const ConfigError& error) {
    throw ConfigError(path + ": " + error.what(), error.choice());
  }
}

void apply_override(Config& config, const std::string& assignment) {
  const std::size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ConfigError("expects key=value, got \"" + assignment + "\"", Choice::kOverride);
  }
  const std::string key = assignment.substr(0, equals);
  const Option& option = find_option(key);
  if (!is_valid_utf8(assignment)) {
    throw ConfigError(key + ": the value is not valid UTF-8 (a config is JSON text)",
                      Choice::kOverride);
  }
  const nlohmann::json value = parse_override_value(option, config, assignment.substr(equals + 1));
  set_from_json(option, config, value);
}

void validate_config(const Config& config) {
  // A config built in code (a library caller, a test) has not been through the table's ranges.
  config_from_json(config_to_json(config));
  Config copy = config;
  for (const Option& option : options()) {
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
                      format_number(config.data.val_fraction));
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

nlohmann::json config_to_json(const Config& config) {
  Config copy = config;
  nlohmann::json json = nlohmann::json::object();
  for (const Option& option : options()) {
    json[option_pointer(option.key)] = field_to_json(option.field(copy));
  }
  return json;
}

std::vector<OptionDoc> option_docs() {
  Config defaults;
  std::vector<OptionDoc> docs;
  for (const Option& option : options()) {
    std::string default_value;
    if (!option.required) default_value = field_to_json(option.field(defaults)).dump();
    docs.push_back({option.key, option.help, default_value, option.on_resume, option.feature_key});
  }
  return docs;
}

nlohmann::json::json_pointer option_pointer(const std::string& key) {
  return nlohmann::json::json_pointer("/" + std::regex_replace(key, std::regex("\\."), "/"));
}

}  // namespace ftl
