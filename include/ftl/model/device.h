// The compute device named by train.device: "cpu", "cuda" or "cuda:N".
#pragma once

#include <torch/torch.h>

#include <string>

namespace ftl {

/// Throws ConfigError (exit 2) naming `option` (the key or flag the value came from) and the
/// value when it is malformed, or when it asks for CUDA and this LibTorch build has none or
/// the device index does not exist.
torch::Device resolve_device(const std::string& name, const std::string& option);

}  // namespace ftl
