// The exponential moving average of a network's weights (train.ema), timm's ModelEmaV3: a copy
// of every floating-point parameter and buffer, moved towards the trained network after each
// optimizer step. Each epoch validates it beside the trained weights, and best.pt holds it
// when train.best_metric ranks by it. Its tensors and its count of updates travel in last.pt,
// so a resumed run averages exactly as the uninterrupted one.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ftl/config/config.h"

namespace ftl {

/// timm's ModelEmaV3.get_decay after `updates` updates (this one included): 0 for the first
/// (the average starts as a copy); then `decay`, or with warmup
/// min(decay, 1 - (1 + updates - 1)^(-2/3)).
double ema_decay(const EmaConfig& config, std::int64_t updates);

class WeightAverage {
 public:
  /// Starts from `module`'s parameters and buffers (copies).
  WeightAverage(const torch::jit::Module& module, const EmaConfig& config);

  /// One optimizer step's update: ema.lerp_(weights, 1 - decay) for parameters and, with
  /// buffers "average", floating-point buffers; other buffers (and all with "copy") copied.
  void update(const torch::jit::Module& module);
  std::int64_t updates() const { return updates_; }

  /// The averaged tensors by name ("ema/<name>") and the update count ("ema/updates"), on the
  /// CPU (on a CPU run the average itself, not a copy: serialise them before the next update
  /// or swap); and back. Throws ModelError naming `source` when a tensor is missing or its shape
  /// differs.
  std::map<std::string, torch::Tensor> state_tensors() const;
  void load_state(const std::map<std::string, torch::Tensor>& tensors, const std::string& source);

  /// Swaps the averaged values with `module`'s own, in place: call again to swap back.
  void swap_with(torch::jit::Module& module);

 private:
  struct Entry {
    std::string name;
    bool parameter = false;
    torch::Tensor value;  // the average
  };
  EmaConfig config_;
  // Parameters, then buffers, in the module's order: named_parameters and named_buffers keep
  // it, so the entries pair with a module's tensors by position.
  std::vector<Entry> entries_;
  std::int64_t updates_ = 0;
};

/// Holds the average in `module` for a scope (validation, a best.pt of the average), and puts
/// the trained weights back when it ends.
class AveragedWeightsScope {
 public:
  AveragedWeightsScope(WeightAverage& average, torch::jit::Module& module)
      : average_(average), module_(module) {
    average_.swap_with(module_);
  }
  ~AveragedWeightsScope() { average_.swap_with(module_); }
  AveragedWeightsScope(const AveragedWeightsScope&) = delete;
  AveragedWeightsScope& operator=(const AveragedWeightsScope&) = delete;

 private:
  WeightAverage& average_;
  torch::jit::Module& module_;
};

}  // namespace ftl
