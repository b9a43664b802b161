// model.freeze's value, parsed once into a kind and a module path.
#pragma once

#include <string>

namespace ftl {

/// model.freeze: which part of the network is held fixed while training (model/model.h's
/// frozen_modules turns it into module paths once the network is known).
struct FreezePolicy {
  enum class Kind {
    kNone,      // "none": every layer trains
    kBackbone,  // "backbone": all but the head (and the Dropout right before it)
    kUpTo,      // "up_to:NAME": the modules from the first up to NAME, in the module's order
  };
  Kind kind = Kind::kNone;
  std::string up_to;  // kUpTo's NAME: a top-level child ("layer2") or a dotted path

  /// Parses the config's word ("none", "backbone", "up_to:features.6"); throws ConfigError
  /// naming model.freeze and the value for anything else.
  static FreezePolicy parse(const std::string& text);
  /// The word back, as config.json, checkpoints and messages write it.
  std::string to_string() const;
  bool operator==(const FreezePolicy& other) const {
    return kind == other.kind && up_to == other.up_to;
  }
  bool operator!=(const FreezePolicy& other) const { return !(*this == other); }
};

}  // namespace ftl
