// The network `ftl export` writes: the checkpoint's network made for inference only.
#pragma once

#include <torch/script.h>

#include "ftl/export/export_options.h"

namespace ftl {

/// A frozen copy of `network` (which is left as it is): evaluation mode fixed, parameters and
/// buffers turned into constants, each submodule's forward inlined into one graph, each
/// BatchNorm folded into the convolution before it. With kBf16 its weights are bf16 and it
/// computes in bf16, taking and giving float32 tensors as the fp32 network does. This is the
/// network `ftl serve` freezes, less optimize_for_inference's oneDNN layouts, which LibTorch
/// cannot save (their packed weights are not serialisable); whoever loads the file can apply
/// them, as ftl serve does. Throws ModelError with LibTorch's reason when it cannot be frozen.
torch::jit::Module export_network(const torch::jit::Module& network, Precision precision);

}  // namespace ftl
