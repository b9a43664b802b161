// The run configuration of `ftl finetune`: every option is a field here with its default, and
// one row in the option table (config.cpp) that gives its JSON key, help text and valid range.
// Parsing, --set overrides, validation, --help and the resolved config.json all read that table.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ftl {

struct ModelConfig {
  std::string path;             // TorchScript ResNet-18 file (required)
  std::string freeze = "none";  // "none" trains everything, "backbone" trains only fc
};

struct DataConfig {
  std::string train;              // ImageFolder root of the training images (required)
  std::string val;                // ImageFolder root of the validation images (required)
  std::int64_t image_size = 224;  // side of the square network input, in pixels
  std::int64_t batch_size = 32;   // images per optimizer step
  std::int64_t workers = 0;       // image-decoding threads; 0 = number of cores
};

struct OptimizerConfig {
  double lr = 0.001;          // SGD learning rate
  double momentum = 0.9;      // SGD momentum
  double weight_decay = 0.0;  // L2 penalty added by SGD
  bool nesterov = false;      // Nesterov momentum
};

struct TrainConfig {
  std::int64_t epochs = 10;    // passes over the training set
  std::int64_t seed = 0;       // seeds the head initialisation and the shuffle
  std::int64_t threads = 0;    // intra-op compute threads; 0 = cores available to the process
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N"
};

struct OutputConfig {
  std::string dir;  // run directory: config.json, metrics, checkpoints/ (required)
};

struct Config {
  ModelConfig model;
  DataConfig data;
  OptimizerConfig optimizer;
  TrainConfig train;
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

/// Checks what cannot be checked key by key: required keys are present.
void validate_config(const Config& config);

/// Every option with its value, as nested JSON (the resolved config.json).
nlohmann::json config_to_json(const Config& config);

/// Every option, for --help.
std::vector<OptionDoc> option_docs();

}  // namespace ftl
