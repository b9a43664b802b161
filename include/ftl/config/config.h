// The run configuration of `ftl finetune`: every option is a field here with its default, and
// one row in the option table (option_rows.cpp) that gives its JSON key, help text, valid range and
// its part in resuming and in the feature cache. Parsing, overrides, validation, the help, the
// resolved config.json, the resume check and the feature-cache key all read that table.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/config/choices.h"
#include "ftl/config/data_config.h"
#include "ftl/config/freeze_policy.h"

namespace ftl {

struct ModelConfig {
  std::string path;                    // TorchScript classifier file (required)
  std::string head = "auto";           // the head: the family's convention, or a module path
  FreezePolicy freeze;                 // "none", "backbone" (all but the head) or "up_to:NAME"
  std::int64_t unfreeze_at_epoch = 0;  // from this epoch on everything trains; 0 = never
  double backbone_lr_mult = 1.0;       // backbone lr = optimizer.lr x this; the head gets lr
  BatchNormPolicy batchnorm = BatchNormPolicy::kFollow;  // follow (frozen layers' BN in eval),
                                                         // frozen or train
};

struct ScheduleConfig {
  ScheduleType type = ScheduleType::kConstant;  // constant, step, multistep, cosine or onecycle
  std::int64_t step_size = 0;                   // step: epochs between decays (required by step)
  std::vector<std::int64_t> milestones;         // multistep: decay after these many epochs
  double gamma = 0.1;                           // step, multistep: the decay factor
  double min_lr = 0.0;                          // cosine: the lr it anneals to
  double warmup_epochs = 0.0;                   // linear warmup from 0, per step; may be fractional
  // onecycle (fastai's fit_one_cycle): the lr rises from max_lr / div to max_lr over pct_start
  // of the steps, then falls to max_lr / div_final, both by half a cosine; the momentum (SGD)
  // or beta1 (AdamW) moves the other way, from momentum_range's high end to its low end and back.
  double max_lr = 0.0;      // onecycle: the peak lr; 0 = optimizer.lr
  double pct_start = 0.25;  // onecycle: the share of steps that rise
  double div = 25.0;        // onecycle: the first lr is max_lr / div
  double div_final = 1e5;   // onecycle: the last lr is max_lr / div_final
  std::array<double, 2> momentum_range = {0.85, 0.95};  // onecycle: [at the peak, at the ends]
};

struct OptimizerConfig {
  OptimizerType type = OptimizerType::kSgd;  // sgd or adamw
  double lr = 0.001;      // learning rate (of the head; see model.backbone_lr_mult)
  double momentum = 0.9;  // SGD momentum
  std::array<double, 2> betas = {0.9, 0.999};  // AdamW: the moments' decay rates
  double eps = 1e-8;                           // AdamW: added to the second moment's root
  double weight_decay = 0.0;     // SGD: L2 penalty added to the gradient; AdamW: decoupled decay
  bool no_decay_bn_bias = true;  // no weight decay on biases and BatchNorm weights
  bool nesterov = false;         // SGD: Nesterov momentum
  // Layer-wise lr decay (timm's, from BEiT): a parameter at depth d learns at
  // lr x layer_decay ** (max depth - d) (model/layer_depth.h); 1 = off
  double layer_decay = 1.0;
  ScheduleConfig schedule;  // how lr changes over the run
};

struct EarlyStoppingConfig {
  Metric metric = Metric::kValLoss;  // the metric watched
  std::int64_t patience = 0;         // epochs without improvement before stopping; 0 = off
  double min_delta = 0.0;            // smallest change that counts as an improvement
};

/// timm's Mixup in "batch" mode: each training batch blended with itself reversed (mixup) or
/// given a box of it (CutMix), and the targets mixed in the same proportion. Off unless an
/// alpha is above 0; timm's ImageNet recipe is mixup_alpha 0.8, cutmix_alpha 1.0.
struct MixupConfig {
  double mixup_alpha = 0.0;   // lambda ~ Beta(a, a) of the blend; 0 = no mixup
  double cutmix_alpha = 0.0;  // lambda ~ Beta(a, a) of the kept area; 0 = no CutMix
  double prob = 1.0;          // the chance that a batch is mixed at all
  double switch_prob = 0.5;   // with both alphas above 0: the chance of CutMix over mixup
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

/// An exponential moving average of the weights (timm's ModelEmaV3), validated beside them each
/// epoch. After optimizer step t: ema = d_t x ema + (1 - d_t) x weights, with d_t = decay or,
/// with warmup, min(decay, 1 - (1 + t - 1)^(-2/3)) (d_1 = 0: the average starts as a copy).
struct EmaConfig {
  double decay = 0.0;  // the average's decay per optimizer step, in [0, 1); 0 = off
  bool warmup = true;  // ramp the decay up over the first steps (timm's model_ema_warmup)
  EmaBuffers buffers = EmaBuffers::kAverage;  // BatchNorm statistics averaged, or copied
  bool enabled() const { return decay > 0; }
};

struct TrainConfig {
  std::int64_t epochs = 10;                 // passes over the training set
  std::int64_t accumulate_steps = 1;        // batches whose gradients make one optimizer step
  std::int64_t seed = 0;                    // seeds the head initialisation and the shuffle
  std::int64_t threads = 0;                 // intra-op threads; 0 = OMP_NUM_THREADS or the cores
                                            // available to the process
  std::string device = "cpu";               // "cpu", "cuda" or "cuda:N"
  double label_smoothing = 0.0;             // cross-entropy label smoothing, in [0, 1)
  nlohmann::json class_weights = "none";    // "none", "balanced" or {"class name": weight}
  MixupConfig mixup;                        // train.mixup.*: off unless an alpha is above 0
  EmaConfig ema;                            // train.ema.*: off unless its decay is above 0
  double grad_clip_norm = 0.0;              // clip the gradients' total L2 norm; 0 = off
  EarlyStoppingConfig early_stopping;       // stop when validation stops improving
  Metric best_metric = Metric::kValAcc;     // what best.pt and keep_top_k rank by (an _ema
                                            // metric: they hold the averaged weights)
  std::int64_t keep_top_k = 0;              // also keep the k best epochs' checkpoints
  bool deterministic = false;               // repeatable runs and bit-exact resume
  std::int64_t checkpoint_every_steps = 0;  // also save resume state every N steps; 0 = epochs
  std::int64_t val_every = 1;  // validate after every N-th epoch and after the last one
  // With a frozen backbone and no augmentation, auto runs the backbone once per image and
  // trains the head on the features; disk also keeps them for later runs; off runs it every step.
  FeatureCacheMode feature_cache = FeatureCacheMode::kAuto;
  std::string feature_cache_dir;           // disk: where; "" = $XDG_CACHE_HOME/ftl/features or
                                           // ~/.cache/ftl/features
  Precision precision = Precision::kFp32;  // bf16: autocast (AVX512-BF16/AMX CPUs, CUDA)
  MemoryFormat memory_format = MemoryFormat::kChannelsLast;  // NHWC, or contiguous NCHW
};

struct DistConfig {
  double timeout_s = 300;  // a rank waiting this long for the others gives up, with an
                           // error, instead of hanging (rendezvous and every collective)
  DistBackend backend = DistBackend::kAuto;  // auto (gloo on CPU, nccl on CUDA), gloo or nccl
};

struct OutputConfig {
  std::string dir;  // run directory: config.json, metrics, checkpoints/ (required)
};

struct Config {
  ModelConfig model;
  DataConfig data;
  OptimizerConfig optimizer;
  TrainConfig train;
  DistConfig dist;  // data-parallel runs only; who is which rank comes from the launcher
  OutputConfig output;
};

/// What a resumed run may do with an option's value.
enum class OnResume {
  kFixed,      // keep it: it changes what is learnt
  kMayChange,  // change it: it changes the speed or how a failure shows, not what is learnt
  kMayGrow,    // raise it, not lower it (train.epochs: the run goes on for longer)
};

/// Whether, and how, an option is part of the feature-cache key: what the cached backbone
/// features depend on besides the images, the backbone's weights and the device.
enum class FeatureKey {
  kNo,
  kValue,       // its value, named by the last part of its key ("precision")
  kPreprocess,  // through the preprocessing record that checkpoints also store
};

/// One option of the table: as `ftl finetune --help` lists it, and as the resume check and the
/// feature-cache key read it.
struct OptionDoc {
  std::string key;            // dotted JSON path, e.g. "optimizer.lr"
  std::string help;           // one line
  std::string default_value;  // as JSON text; empty for required options
  OnResume on_resume = OnResume::kFixed;
  FeatureKey feature_key = FeatureKey::kNo;
};

/// Parses a config object; unknown keys, wrong types and out-of-range values throw ConfigError
/// naming the dotted key. Missing keys keep their defaults. Does not check required keys.
Config config_from_json(const nlohmann::json& json);

/// Reads and parses a JSON config file; errors name the file.
Config load_config_file(const std::string& path);

/// Applies one "dotted.key=value" override, typed and range-checked like the file. An assignment
/// without "=", or one that is not UTF-8, throws ConfigError tagged Choice::kOverride.
void apply_override(Config& config, const std::string& assignment);

/// Checks a whole config, however it was made: every value as config_from_json checks it (so a
/// config built in code is refused as its file would be), then what cannot be checked key by
/// key: required keys are present and options that depend on each other agree (a schedule's
/// own keys, BatchNorm and batch size, ...).
void validate_config(const Config& config);

/// Every option with its value, as nested JSON (the resolved config.json).
nlohmann::json config_to_json(const Config& config);

/// Every option, in the table's order (that of --help).
std::vector<OptionDoc> option_docs();

/// Where an option's value sits in config_to_json: "train.precision" -> /train/precision.
nlohmann::json::json_pointer option_pointer(const std::string& key);

}  // namespace ftl
