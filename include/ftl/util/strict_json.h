// Checks for JSON that ftl reads back from files it wrote (checkpoint metadata, resume state):
// such files may have been edited or damaged, so they are held to the config's standard, where
// a key that is not known is an error rather than something silently ignored.
#pragma once

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/util/errors.h"

namespace ftl {

/// Throws ModelError "<where>'<key>' is not a known key (known: a, b)" for the first key of
/// `object` that `known` does not list.
inline void refuse_unknown_keys(const nlohmann::json& object, const std::vector<std::string>& known,
                                const std::string& where) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    std::string list;
    for (const std::string& name : known) list += (list.empty() ? "" : ", ") + name;
    throw ModelError(where + "'" + item.key() + "' is not a known key (known: " + list + ")");
  }
}

/// Throws ModelError "<where><key> must be >= <minimum>, got <value>".
inline void require_at_least(std::int64_t value, std::int64_t minimum, const std::string& key,
                             const std::string& where) {
  if (value >= minimum) return;
  throw ModelError(where + key + " must be >= " + std::to_string(minimum) + ", got " +
                   std::to_string(value));
}

}  // namespace ftl
