// A launch environment that holds only the given variables, for tests of how resolve_launch
// reads torchrun's and SLURM's variables without touching the process's own.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "ftl/distributed/launch.h"

namespace ftl::testing {

inline ftl::Environment environment_of(std::map<std::string, std::string> variables) {
  return [variables](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

}  // namespace ftl::testing
