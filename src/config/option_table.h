// What the option table's rows (option_rows.cpp), its engine (option_table.cpp) and the rules
// across options (config_rules.cpp) share. Private to src/config: the rest of ftl reads the
// table through ftl/config/config.h.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "ftl/config/config.h"

namespace ftl::option_table {

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
/// Largest integer that JSON numbers (doubles) carry exactly.
constexpr double kMaxExactInteger = 9007199254740991.0;

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

// The rows' makers, so that each row reads as what it is (option_rows.cpp).
Option any_value(const char* key, const char* help, FieldOf field);
Option required_text(const char* key, const char* help, FieldOf field);
Option choice(const char* key, const char* help, FieldOf field);
Option matching(const char* key, const char* help, FieldOf field, const char* pattern);
Option in_range(const char* key, const char* help, FieldOf field, double min, double max);
Option positive(const char* key, const char* help, FieldOf field);
Option below(const char* key, const char* help, FieldOf field, double min, double max);
Option pair_below(const char* key, const char* help, FieldOf field, double min, double max);
Option open_low(const char* key, const char* help, FieldOf field, double min, double max);
Option json_value(const char* key, const char* help, FieldOf field, JsonCheck check);

/// The option table: the single place that names each key, in the order the help lists them.
const std::vector<Option>& options();

/// Throws ConfigError: `key` is not a known key, with the nearest known one as a suggestion.
[[noreturn]] void throw_unknown_key(const std::string& key);

/// The row of `key`; throws as throw_unknown_key when there is none.
const Option& find_option(const std::string& key);

/// A number as messages write it: an integer without a fraction, else JSON's shortest form.
std::string format_number(double value);

}  // namespace ftl::option_table
