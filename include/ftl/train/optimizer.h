// The optimizer: SGD over named parameter groups, so that the head and the backbone can learn at
// different rates (model.backbone_lr_mult) and biases and BatchNorm weights can be kept out of
// weight decay. Its state (momentum buffers and each group's lr) is saved and restored by
// parameter name, so a resumed run continues exactly and a mismatched network is an error.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/config/config.h"

namespace ftl {

struct ParamGroup {
  std::string name;                     // "head", "backbone_no_decay", "unfrozen", ...
  double lr_mult = 1.0;                 // the group's lr = scheduled lr x lr_mult
  std::vector<std::string> parameters;  // parameter names, in the module's order
};

class TrainingOptimizer {
 public:
  /// Groups the trainable parameters into head and backbone groups, each split into decayed
  /// and not-decayed (dim <= 1: biases, BatchNorm weights) when weight decay applies.
  TrainingOptimizer(const std::vector<torch::jit::NameTensor>& trainable, const Config& config);

  /// Adds parameters that became trainable (staged unfreezing) as new groups named `prefix`
  /// and `prefix`_no_decay, which learn at the backbone's rate from now on.
  void add(const std::vector<torch::jit::NameTensor>& parameters, const std::string& prefix);

  /// Sets every group's lr to lr x its lr_mult.
  void set_lr(double lr);

  torch::optim::SGD& sgd() { return sgd_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  std::size_t num_parameters() const;
  /// Every parameter in group order (for gradient clipping).
  std::vector<torch::Tensor> parameters() const;

  /// The groups (names, lr, parameter names and shapes) as JSON, and the momentum buffers
  /// (on the CPU) by parameter name.
  nlohmann::json state_json() const;
  std::map<std::string, torch::Tensor> state_tensors() const;

  /// Restores what state_json/state_tensors saved. The layout must match this optimizer's
  /// exactly, parameter by parameter (name and shape); otherwise throws ModelError naming
  /// `source` and the first difference, instead of pairing buffers with the wrong weights.
  void load_state(const nlohmann::json& state, const std::map<std::string, torch::Tensor>& tensors,
                  const std::string& source);

 private:
  void add_groups(const std::vector<torch::jit::NameTensor>& parameters, const std::string& prefix,
                  double lr_mult);

  Config config_;
  torch::optim::SGD sgd_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<torch::Tensor>> tensors_;  // per group, parallel to its names
};

}  // namespace ftl
