// One image of zeros through a network before anything depends on it: what it answers (the
// output width that finds a head, whether data.image_size fits, whether a frozen network takes
// the served size), with every module's train/eval flag left as it was.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ftl {

/// Every module's train/eval flag under a network (the network's own included), put back when
/// the scope ends: a recursive train() or eval() resets them all, and a frozen part's modes, or
/// a head's Dropout, must survive it.
class KeepModes {
 public:
  explicit KeepModes(const torch::jit::Module& network);
  ~KeepModes();
  KeepModes(const KeepModes&) = delete;
  KeepModes& operator=(const KeepModes&) = delete;

 private:
  std::vector<std::pair<torch::jit::Module, bool>> modes_;  // pre-order, parents first
};

struct ProbeResult {
  torch::Tensor output;  // the network's answer, when it is a tensor
  std::string failure;   // "" on success; else TorchScript's last line or what it answered
};

/// The device of the network's parameters (the CPU for one without: a frozen network's weights
/// are constants).
torch::Device parameter_device(const torch::jit::Module& network);

/// Runs `network` once in eval mode without gradients on a 1 x 3 x side x side image of zeros
/// on `device` (no BatchNorm statistic moves, modes are kept).
ProbeResult probe(const torch::jit::Module& network, std::int64_t side,
                  const torch::Device& device);

}  // namespace ftl
