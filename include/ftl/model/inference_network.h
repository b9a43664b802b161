// A network made ready to answer and nothing else, as torch.jit.optimize_for_inference makes
// it: frozen (parameters become constants, submodule calls inlined), each BatchNorm folded
// into the convolution before it, and on the CPU the convolutions in oneDNN's layout with
// their weights packed once: for a ResNet-18 at 224 px, one image about 20% faster, with
// probabilities within 2e-7 of the loaded network's (scripts/bench/serve.sh prints both).
// In bf16 the frozen network's weights are rounded to bf16 once, after BatchNorm is folded in
// fp32, and it computes in bf16 while taking and giving float32 tensors.
// The frozen module cannot be trained or saved as a checkpoint: ftl serve, evaluate, predict
// and report run it; ftl export saves its unoptimised form.
#pragma once

#include <torch/script.h>

#include <string>

#include "ftl/config/choices.h"

namespace ftl {

struct InferenceNetwork {
  torch::jit::Module module;      // the network to run: the frozen one, or the given one
  std::string not_frozen_reason;  // LibTorch's reason when freezing failed; empty when frozen
  Precision precision = Precision::kFp32;  // what it computes in
  bool frozen() const { return not_frozen_reason.empty(); }
  /// The given network stands in for a bf16 one that could not be made: run it under
  /// autocast (AutocastScope) to compute in bf16 all the same.
  bool needs_autocast() const { return precision == Precision::kBf16 && !frozen(); }
};

/// Freezes and optimises a copy of `network`, which must be in eval mode (as checkpoints load)
/// and is left as it was; with Precision::kBf16 the frozen copy computes in bf16 (bf16_network).
/// A network that LibTorch cannot freeze (one in training mode, say) is returned as it is,
/// with the reason, so that it still answers, only slower. With `probe_side` > 0 the frozen
/// network must also answer a probe_side x probe_side image (oneDNN's layouts refuse some
/// shapes the network takes: VGG's adaptive pooling from 1x1 to 7x7 at 32 px); where it does
/// not, the network is returned as it is, with that reason.
InferenceNetwork inference_network(const torch::jit::Module& network, std::int64_t probe_side = 0,
                                   Precision precision = Precision::kFp32);

/// A frozen copy of `network` (left as it is) in eval mode: parameters and buffers turned into
/// constants, submodule calls inlined into one graph, each BatchNorm folded into the
/// convolution before it. Throws c10::Error or the script compiler's error when LibTorch
/// cannot freeze it.
torch::jit::Module frozen_network(const torch::jit::Module& network);

/// `frozen` (a frozen_network) computing in bf16: each floating constant rounded to bf16 once,
/// in a wrapper that takes float32 images and returns float32 logits, so that it answers the
/// same inputs as the fp32 network and a caller never sees a bf16 tensor. `frozen` is changed.
torch::jit::Module bf16_network(torch::jit::Module frozen);

}  // namespace ftl
