#include "ftl/config.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <regex>
#include <variant>

#include "ftl/errors.h"

namespace ftl {
namespace {

using FieldPtr = std::variant<std::string*, std::int64_t*, double*, bool*>;

constexpr double kInf = std::numeric_limits<double>::infinity();

using FieldOf = FieldPtr (*)(Config&);

/// One row of the option table. Numbers must lie in [min, max] (min exclusive when
/// min_exclusive); strings must be one of choices, or match pattern, when those are set.
/// Rows are made by the named helpers below, so each row reads as what it is.
struct Option {
  const char* key = "";
  const char* help = "";
  FieldOf field = nullptr;
  double min = -kInf;
  double max = kInf;
  bool min_exclusive = false;
  std::vector<std::string> choices;
  bool required = false;
  const char* pattern = nullptr;
};

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

Option choice(const char* key, const char* help, FieldOf field, std::vector<std::string> choices) {
  Option option = any_value(key, help, field);
  option.choices = std::move(choices);
  return option;
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

/// Largest integer that JSON numbers (doubles) carry exactly.
constexpr double kMaxExactInteger = 9007199254740991.0;

// The option table: the single place that names each key. Keep it in the order of config.h.
const std::vector<Option>& options() {
  static const std::vector<Option> kOptions = {
      required_text("model.path",
                    "TorchScript ResNet-18 file (torch.jit.script of a torchvision model)",
                    [](Config& c) -> FieldPtr { return &c.model.path; }),
      choice("model.freeze", "\"none\" trains every layer, \"backbone\" trains only the fc head",
             [](Config& c) -> FieldPtr { return &c.model.freeze; }, {"none", "backbone"}),
      required_text("data.train", "ImageFolder root of the training images (one folder per class)",
                    [](Config& c) -> FieldPtr { return &c.data.train; }),
      required_text("data.val",
                    "ImageFolder root of the validation images (the same class folders)",
                    [](Config& c) -> FieldPtr { return &c.data.val; }),
      in_range(
          "data.image_size", "side of the square network input in pixels",
          [](Config& c) -> FieldPtr { return &c.data.image_size; }, 8, 4096),
      in_range(
          "data.batch_size", "images per optimizer step",
          [](Config& c) -> FieldPtr { return &c.data.batch_size; }, 1, 65536),
      in_range(
          "data.workers", "image-decoding threads; 0 = number of cores",
          [](Config& c) -> FieldPtr { return &c.data.workers; }, 0, 256),
      positive("optimizer.lr", "SGD learning rate",
               [](Config& c) -> FieldPtr { return &c.optimizer.lr; }),
      in_range(
          "optimizer.momentum", "SGD momentum",
          [](Config& c) -> FieldPtr { return &c.optimizer.momentum; }, 0, 1),
      in_range(
          "optimizer.weight_decay", "L2 penalty added to the gradient by SGD",
          [](Config& c) -> FieldPtr { return &c.optimizer.weight_decay; }, 0, kInf),
      any_value("optimizer.nesterov", "Nesterov momentum (needs momentum > 0)",
                [](Config& c) -> FieldPtr { return &c.optimizer.nesterov; }),
      in_range(
          "train.epochs", "passes over the training set",
          [](Config& c) -> FieldPtr { return &c.train.epochs; }, 1, 1000000),
      in_range(
          "train.seed", "seeds the head initialisation and the per-epoch shuffle",
          [](Config& c) -> FieldPtr { return &c.train.seed; }, 0, kMaxExactInteger),
      in_range(
          "train.threads", "intra-op compute threads; 0 = cores available to the process",
          [](Config& c) -> FieldPtr { return &c.train.threads; }, 0, 1024),
      matching(
          "train.device", "\"cpu\", \"cuda\" or \"cuda:N\"",
          [](Config& c) -> FieldPtr { return &c.train.device; }, "cpu|cuda|cuda:[0-9]+"),
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
  const bool below = option.min_exclusive ? value <= option.min : value < option.min;
  if (std::isnan(value) || below || value > option.max) {
    std::string range;
    if (option.max == kInf) {
      range = (option.min_exclusive ? "> " : ">= ") + format_number(option.min);
    } else {
      range = "in [" + format_number(option.min) + ", " + format_number(option.max) + "]";
    }
    throw ConfigError(std::string(option.key) + " must be " + range + ", got " +
                      format_number(value));
  }
}

void check_string(const Option& option, const std::string& value) {
  if (!option.choices.empty()) {
    for (const std::string& choice : option.choices) {
      if (value == choice) return;
    }
    std::string list;
    for (const std::string& choice : option.choices) {
      list += (list.empty() ? "\"" : ", \"") + choice + "\"";
    }
    throw ConfigError(std::string(option.key) + " must be one of " + list + ", got \"" + value +
                      "\"");
  }
  if (option.pattern != nullptr && !std::regex_match(value, std::regex(option.pattern))) {
    throw ConfigError(std::string(option.key) + " must be " + option.help + ", got \"" + value +
                      "\"");
  }
}

// Stores a JSON value into the option's field, checking its type and range.
void set_from_json(const Option& option, Config& config, const nlohmann::json& value) {
  const std::string key = option.key;
  const std::string got = ", got " + value.dump();
  FieldPtr field = option.field(config);
  if (auto* text = std::get_if<std::string*>(&field)) {
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
  }
}

nlohmann::json field_to_json(FieldPtr field) {
  return std::visit([](auto* value) { return nlohmann::json(*value); }, field);
}

// Walks a JSON object, joining keys with dots, and sets every leaf it finds.
void read_object(const nlohmann::json& object, const std::string& prefix, Config& config) {
  for (const auto& [name, value] : object.items()) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (value.is_object()) {
      // A section ("optimizer") or a typo of one: only known sections may hold keys.
      bool is_section = false;
      for (const Option& option : options()) {
        if (std::string(option.key).rfind(key + ".", 0) == 0) is_section = true;
      }
      if (!is_section) throw_unknown_key(key);
      read_object(value, key, config);
    } else {
      const Option& option = find_option(key);
      set_from_json(option, config, value);
    }
  }
}

// Parses the text of a --set value into JSON of the field's type, so that it is then checked
// exactly like a value from the file.
nlohmann::json parse_override_value(const Option& option, const Config& config,
                                    const std::string& text) {
  Config scratch = config;
  FieldPtr field = option.field(scratch);
  const std::string bad = std::string(option.key) + " must be ";
  if (std::holds_alternative<std::string*>(field)) return text;
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
    throw ConfigError(bad + "a number, got \"" + text + "\"");
  }
  return value;
}

}  // namespace

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
  } catch (const nlohmann::json::parse_error& error) {
    throw ConfigError(path + ": invalid JSON: " + error.what());
  }
  try {
    return config_from_json(json);
  } catch (const ConfigError& error) {
    throw ConfigError(path + ": " + error.what());
  }
}

void apply_override(Config& config, const std::string& assignment) {
  const std::size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ConfigError("--set expects key=value, got \"" + assignment + "\"");
  }
  const std::string key = assignment.substr(0, equals);
  const Option& option = find_option(key);
  const nlohmann::json value = parse_override_value(option, config, assignment.substr(equals + 1));
  set_from_json(option, config, value);
}

void validate_config(const Config& config) {
  Config copy = config;
  for (const Option& option : options()) {
    if (!option.required) continue;
    const std::string* value = std::get<std::string*>(option.field(copy));
    if (value->empty()) {
      throw ConfigError(std::string(option.key) + " is required (" + option.help + ")");
    }
  }
  if (config.model.freeze == "none" && config.data.batch_size < 2) {
    throw ConfigError(
        "data.batch_size must be >= 2 when BatchNorm trains (model.freeze \"none\"), "
        "got " +
        std::to_string(config.data.batch_size));
  }
  if (config.optimizer.nesterov && config.optimizer.momentum <= 0) {
    throw ConfigError("optimizer.nesterov needs optimizer.momentum > 0, got " +
                      format_number(config.optimizer.momentum));
  }
}

nlohmann::json config_to_json(const Config& config) {
  Config copy = config;
  nlohmann::json json = nlohmann::json::object();
  for (const Option& option : options()) {
    json[nlohmann::json::json_pointer("/" +
                                      std::regex_replace(option.key, std::regex("\\."), "/"))] =
        field_to_json(option.field(copy));
  }
  return json;
}

std::vector<OptionDoc> option_docs() {
  Config defaults;
  std::vector<OptionDoc> docs;
  for (const Option& option : options()) {
    std::string default_value;
    if (!option.required) default_value = field_to_json(option.field(defaults)).dump();
    docs.push_back({option.key, option.help, default_value});
  }
  return docs;
}

}  // namespace ftl
