// The run configuration of `ftl finetune`: every option is a field here with its default, and
// one row in the option table (config.cpp) that gives its JSON key, help text and valid range.
// Parsing, --set overrides, validation, --help and the resolved config.json all read that table.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ftl {

struct ModelConfig {
  std::string path;                    // TorchScript ResNet-18 file (required)
  std::string freeze = "none";         // "none", "backbone" (only fc trains) or "up_to:layerN"
  std::int64_t unfreeze_at_epoch = 0;  // from this epoch on everything trains; 0 = never
  double backbone_lr_mult = 1.0;       // backbone lr = optimizer.lr x this; the head gets lr
  std::string batchnorm = "follow";    // "follow" (frozen layers' BN in eval), "frozen", "train"
};

struct DataConfig {
  std::string train;              // training images: ImageFolder root or CSV manifest (required)
  std::string val;                // validation images: ImageFolder root or CSV manifest (required
                                  // unless val_fraction is set)
  double val_fraction = 0.0;      // > 0: hold out this share of each class of data.train for
                                  // validation instead (stratified, seeded by train.seed)
  std::int64_t image_size = 224;  // side of the square network input, in pixels
  std::int64_t resize = 0;        // center_crop: shorter side before the crop; 0 = image_size
                                  // x 256/224, torchvision's Resize(256) + CenterCrop(224)
  std::string eval_resize = "center_crop";  // "center_crop" or "stretch" (straight to square)
  bool augment = false;                     // training: random-resized-crop, flip, jitter
  std::array<double, 2> crop_scale = {0.08, 1.0};             // augment: crop area, share of image
  std::array<double, 2> crop_ratio = {3.0 / 4.0, 4.0 / 3.0};  // augment: crop width / height
  bool hflip = true;                                          // augment: mirror half of the images
  double color_jitter = 0.0;     // augment: brightness/contrast/saturation strength
  bool exif_orientation = true;  // turn photos upright by their EXIF tag
  bool jpeg_dct_scaling = true;  // decode large JPEGs at 1/2, 1/4 or 1/8 scale
  std::string cache = "none";    // "memory": keep decoded images across epochs
  std::int64_t cache_max_bytes = std::int64_t{4} << 30;  // the memory cache's budget
  std::int64_t batch_size = 32;                          // images per optimizer step
  std::int64_t workers = 0;            // image-decoding threads; 0 = one per 4 cores, at least 1
  std::int64_t prefetch = 0;           // batches decoded ahead at most; 0 = 2 x workers
  std::string on_bad_image = "error";  // "error": a corrupt image stops the run; "skip": it is
                                       // left out and listed in <run>/bad_images.txt
};

struct ScheduleConfig {
  std::string type = "constant";         // "constant", "step", "multistep" or "cosine"
  std::int64_t step_size = 0;            // step: epochs between decays (required by step)
  std::vector<std::int64_t> milestones;  // multistep: decay after these many epochs
  double gamma = 0.1;                    // step, multistep: the decay factor
  double min_lr = 0.0;                   // cosine: the lr it anneals to
  double warmup_epochs = 0.0;            // linear warmup from 0, per step; may be fractional
};

struct OptimizerConfig {
  double lr = 0.001;             // SGD learning rate (of the head; see model.backbone_lr_mult)
  double momentum = 0.9;         // SGD momentum
  double weight_decay = 0.0;     // L2 penalty added by SGD
  bool no_decay_bn_bias = true;  // no weight decay on biases and BatchNorm weights
  bool nesterov = false;         // Nesterov momentum
  ScheduleConfig schedule;       // how lr changes over the run
};

struct EarlyStoppingConfig {
  std::string metric = "val_loss";  // "val_loss" or "val_acc"
  std::int64_t patience = 0;        // epochs without improvement before stopping; 0 = off
  double min_delta = 0.0;           // smallest change that counts as an improvement
};

struct TrainConfig {
  std::int64_t epochs = 10;                 // passes over the training set
  std::int64_t seed = 0;                    // seeds the head initialisation and the shuffle
  std::int64_t threads = 0;                 // intra-op threads; 0 = OMP_NUM_THREADS or the cores
                                            // available to the process
  std::string device = "cpu";               // "cpu", "cuda" or "cuda:N"
  double label_smoothing = 0.0;             // cross-entropy label smoothing, in [0, 1)
  nlohmann::json class_weights = "none";    // "none", "balanced" or {"class name": weight}
  double grad_clip_norm = 0.0;              // clip the gradients' total L2 norm; 0 = off
  EarlyStoppingConfig early_stopping;       // stop when validation stops improving
  std::string best_metric = "val_acc";      // what best.pt and keep_top_k rank by
  std::int64_t keep_top_k = 0;              // also keep the k best epochs' checkpoints
  bool deterministic = false;               // repeatable runs and bit-exact resume
  std::int64_t checkpoint_every_steps = 0;  // also save resume state every N steps; 0 = epochs
  std::string feature_cache = "auto";       // frozen backbone, no augmentation: "auto" runs the
                                            // backbone once per image and trains the head on
                                            // the features; "disk" also keeps them; "off"
  std::string feature_cache_dir;            // "disk": where; "" = $XDG_CACHE_HOME/ftl/features
                                            // or ~/.cache/ftl/features
  std::string precision = "fp32";           // "fp32" or "bf16" (autocast; AVX512-BF16/AMX CPUs)
  std::string memory_format = "channels_last";  // "channels_last" or "contiguous"
};

struct DistConfig {
  double timeout_s = 300;        // a rank waiting this long for the others gives up, with an
                                 // error, instead of hanging (rendezvous and every collective)
  std::string backend = "auto";  // "auto" (gloo on CPU, nccl on CUDA), "gloo" or "nccl"
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

/// One documented option, as listed by `ftl finetune --help`.
struct OptionDoc {
  std::string key;            // dotted JSON path, e.g. "optimizer.lr"
  std::string help;           // one line
  std::string default_value;  // as JSON text; empty for required options
};

/// Parses a config object; unknown keys, wrong types and out-of-range values throw ConfigError
/// naming the dotted key. Missing keys keep their defaults. Does not check required keys.
Config config_from_json(const nlohmann::json& json);

/// Reads and parses a JSON config file; errors name the file.
Config load_config_file(const std::string& path);

/// Applies one "dotted.key=value" override, typed and range-checked like the file.
void apply_override(Config& config, const std::string& assignment);

/// Checks what cannot be checked key by key: required keys are present and options that
/// depend on each other agree (a schedule's own keys, BatchNorm and batch size, ...).
void validate_config(const Config& config);

/// Every option with its value, as nested JSON (the resolved config.json).
nlohmann::json config_to_json(const Config& config);

/// Every option, for --help.
std::vector<OptionDoc> option_docs();

}  // namespace ftl
