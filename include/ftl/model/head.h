// The classifier head: the layer that maps a network's features to its class logits, found by
// its family's convention (model.head "auto") or by a module path, replaced for the new
// classes.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ftl {

/// What the head is. A Linear layer is the network's last operation; SqueezeNet's 1x1 Conv2d is
/// followed by ReLU and global average pooling.
enum class HeadKind { kLinear, kConv };

/// "Linear" or "Conv2d", as checkpoints, inspect and the log write it.
inline const char* to_string(HeadKind kind) {
  return kind == HeadKind::kLinear ? "Linear" : "Conv2d";
}

struct Head {
  std::string family;  // the torchvision family ("MobileNetV3"), "" for another network
  std::string path;    // the module path from the root: "fc", "classifier.3"
  HeadKind kind = HeadKind::kLinear;
  std::int64_t in_features = 0;   // Linear's in_features, Conv2d's in_channels
  std::int64_t out_features = 0;  // Linear's out_features, Conv2d's out_channels
  bool bias = true;               // MaxVit's last Linear has none
  // The Dropout layer applied right before the head (classifier.k-1), "" for none: it trains
  // with the head, frozen backbone or not.
  std::string dropout;
  // What trains with the head under model.freeze "backbone", as in Python where only the
  // feature extractor is frozen: the Sequential that holds the head ("classifier", "heads"),
  // its other layers included (MobileNetV3's first Linear, ConvNeXt's LayerNorm2d), or the
  // head alone where no Sequential holds it ("fc").
  std::string block;

  /// Whether a parameter, buffer or module name lies in the head ("fc.weight" in "fc").
  bool holds(const std::string& name) const;
  /// Whether it lies in the head's block ("classifier.0.weight" in "classifier").
  bool in_block(const std::string& name) const;
  /// {"family", "head", "head_block", "head_kind", "head_in_features"}, as checkpoints and
  /// inspect show it.
  nlohmann::json to_json() const;
  /// "classifier.3 (Linear 1024 -> 10)"
  std::string describe() const;
};

/// The layers of the head's block with their classes, "classifier.0 Linear, classifier.1
/// Hardswish, classifier.2 Dropout, classifier.3 Linear (the head)", for the log.
std::string block_layers(const torch::jit::Module& network, const Head& head);

/// Whether `name` is `path` or lies under it ("layer1.0.conv1" under "layer1").
bool under_path(const std::string& name, const std::string& path);

/// The submodule at a dotted path ("features.6"), "" being the network itself; throws
/// std::out_of_range when a segment is missing.
torch::jit::Module submodule(const torch::jit::Module& network, const std::string& path);

/// Finds the head: `choice` is model.head, "auto" (the family's convention; for a network of
/// no torchvision family, the first of fc, classifier, heads.head and head that is a head
/// layer, failing those the last Linear or 1x1 Conv2d whose output width is the network's, as
/// one pass of a `probe_side` image shows; 0 = no pass) or a module path. Throws ModelError
/// naming `source` (the model file) for a refused family or a network where "auto" finds no
/// head, and ConfigError naming the path, with the layers it could be, for a path that is
/// missing or not a Linear or 1x1 Conv2d layer.
Head find_head(const torch::jit::Module& network, const std::string& choice,
               const std::string& source, std::int64_t probe_side = 0);

/// Gives the head new parameters for `classes` outputs, initialised from `seed` as
/// torch.nn.Linear and torch.nn.Conv2d initialise theirs (uniform in +-1/sqrt(fan_in)), and
/// patches the class constant (out_features, out_channels) so that Python's torch.jit.load
/// sees the new value. Returns the head as it is now.
Head replace_head(torch::jit::Module& network, const Head& head, std::int64_t classes,
                  std::uint64_t seed);

}  // namespace ftl
