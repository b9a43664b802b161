// A network cut in two where its forward calls the head's block: the part before (the backbone,
// images to the block's input) and the part from the block on (the block's input to the
// logits). The feature cache runs the first once per image and trains on the second, so the
// whole block trains (MobileNetV3's first Linear, ConvNeXt's LayerNorm2d, VGG's Dropout and
// Linears) as in the network, and whatever follows the block (SqueezeNet's flatten) comes with
// it. Both parts are the network's own TorchScript code, cut out of its forward graph; no
// family needs code of its own.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>

#include "ftl/model/head.h"

namespace torch::jit {
struct GraphFunction;
}

namespace ftl {

class NetworkSplit {
 public:
  /// Cuts `network`'s forward at its one call of head.block's forward. Throws ModelError
  /// saying why where it cannot: forward never calls the block, calls it more than once or
  /// inside a branch or loop, or computes its output from more than the block's input (the
  /// images themselves, or a layer before the block). The cut depends on the network's code,
  /// not its weights: it serves any module of the same class, a deep copy included.
  NetworkSplit(const torch::jit::Module& network, const Head& head);
  ~NetworkSplit();
  NetworkSplit(NetworkSplit&&) noexcept;
  NetworkSplit& operator=(NetworkSplit&&) noexcept;

  /// What `network` feeds its block for `images`, with its modules' flags as they are.
  torch::Tensor features(const torch::jit::Module& network, const torch::Tensor& images) const;
  /// The network's output from the block's input: the block and what follows it.
  torch::Tensor logits(const torch::jit::Module& network, const torch::Tensor& features) const;

 private:
  std::unique_ptr<torch::jit::GraphFunction> features_;
  std::unique_ptr<torch::jit::GraphFunction> logits_;
};

}  // namespace ftl
