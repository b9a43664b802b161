#include "ftl/config/freeze_policy.h"

#include "ftl/util/errors.h"

namespace ftl {

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

}  // namespace ftl
