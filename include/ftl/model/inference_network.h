// A network made ready to answer and nothing else, as torch.jit.optimize_for_inference makes
// it: frozen (parameters become constants, submodule calls inlined), each BatchNorm folded
// into the convolution before it, and on the CPU the convolutions in oneDNN's layout with
// their weights packed once. A ResNet-18 at 224 px here: 28.4 ms -> 21.1 ms for one image
// (the floor of scripts/bench_serve.sh), probabilities within 2e-7 of the loaded network's.
// The frozen module cannot be trained or saved as a checkpoint: ftl serve runs it.
#pragma once

#include <torch/script.h>

#include <string>

namespace ftl {

struct InferenceNetwork {
  torch::jit::Module module;      // the network to run: the frozen one, or the given one
  std::string not_frozen_reason;  // LibTorch's reason when freezing failed; empty when frozen
  bool frozen() const { return not_frozen_reason.empty(); }
};

/// Freezes and optimises a copy of `network`, which must be in eval mode (as checkpoints load)
/// and is left as it was. A network that LibTorch cannot freeze (one in training mode, say) is
/// returned as it is, with the reason, so that it still answers, only slower. With
/// `probe_side` > 0 the frozen network must also answer a probe_side x probe_side image (oneDNN's
/// layouts refuse some shapes the network takes: VGG's adaptive pooling from 1x1 to 7x7 at
/// 32 px); where it does not, the network is returned as it is, with that reason.
InferenceNetwork inference_network(const torch::jit::Module& network, std::int64_t probe_side = 0);

}  // namespace ftl
