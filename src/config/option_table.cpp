// The option table's engine: reads JSON and --set overrides into a Config through the rows,
// writes a Config back, and lists the rows for the help.
#include "option_table.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <regex>

#include "ftl/util/errors.h"
#include "ftl/util/text.h"

namespace ftl {
namespace option_table {

std::string format_number(double value) {
  if (std::isfinite(value) && std::floor(value) == value && std::abs(value) <= kMaxExactInteger) {
    return std::to_string(static_cast<long long>(value));
  }
  return nlohmann::json(value).dump();
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

namespace {

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

}  // namespace
}  // namespace option_table

Config config_from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw ConfigError("the config must be a JSON object, got " + json.dump());
  Config config;
  option_table::read_object(json, "", config);
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
  const option_table::Option& option = option_table::find_option(key);
  if (!option_table::is_valid_utf8(assignment)) {
    throw ConfigError(key + ": the value is not valid UTF-8 (a config is JSON text)",
                      Choice::kOverride);
  }
  const nlohmann::json value =
      option_table::parse_override_value(option, config, assignment.substr(equals + 1));
  option_table::set_from_json(option, config, value);
}

nlohmann::json config_to_json(const Config& config) {
  Config copy = config;
  nlohmann::json json = nlohmann::json::object();
  for (const option_table::Option& option : option_table::options()) {
    json[option_pointer(option.key)] = option_table::field_to_json(option.field(copy));
  }
  return json;
}

std::vector<OptionDoc> option_docs() {
  Config defaults;
  std::vector<OptionDoc> docs;
  for (const option_table::Option& option : option_table::options()) {
    std::string default_value;
    if (!option.required)
      default_value = option_table::field_to_json(option.field(defaults)).dump();
    docs.push_back({option.key, option.help, default_value, option.on_resume, option.feature_key});
  }
  return docs;
}

nlohmann::json::json_pointer option_pointer(const std::string& key) {
  return nlohmann::json::json_pointer("/" + std::regex_replace(key, std::regex("\\."), "/"));
}

}  // namespace ftl
