// The optimizer: SGD or AdamW (optimizer.type) over named parameter groups, so that the head and
// the backbone can learn at different rates (model.backbone_lr_mult) and biases and BatchNorm
// weights can be kept out of weight decay. Its state (SGD's momentum buffers, AdamW's step counts
// and moments, and each group's lr) is saved and restored by parameter name, so a resumed run
// continues exactly and a mismatched network is an error.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/model/head.h"
#include "ftl/model/layer_depth.h"

namespace ftl {

struct ParamGroup {
  std::string name;                     // "head", "backbone_no_decay", "layer_3", ...
  double lr_mult = 1.0;                 // the group's lr = scheduled lr x lr_mult
  std::vector<std::string> parameters;  // parameter names, in the module's order
  // With optimizer.layer_decay: the group's depth and its decay factor (in lr_mult with
  // model.backbone_lr_mult); -1 without.
  std::int64_t depth = -1;
  double scale = 1.0;
};

class TrainingOptimizer {
 public:
  /// Groups the trainable parameters into head (those in `classifier`'s block) and backbone groups,
  /// each split into decayed and not-decayed (dim <= 1: biases, BatchNorm weights) when weight
  /// decay applies. With optimizer.layer_decay below 1 the backbone group is one group per
  /// depth of `depths` ("layer_0", "layer_1", ...; the head's block stays "head").
  /// `depths` is needed only then: a parameter it lacks is a ModelError.
  TrainingOptimizer(const std::vector<torch::jit::NameTensor>& trainable, const Head& classifier,
                    const Config& config, const LayerDepths& depths = {});

  /// Adds parameters that became trainable (staged unfreezing) as new groups named `prefix`
  /// and `prefix`_no_decay (per depth with layer_decay: `prefix`_layer_3), which learn at the
  /// backbone's rate from now on.
  void add(const std::vector<torch::jit::NameTensor>& parameters, const std::string& prefix);

  /// Sets every group's lr to lr x its lr_mult.
  void set_lr(double lr);
  /// Sets every group's SGD momentum, or AdamW's beta1 (onecycle moves it step by step).
  void set_momentum(double momentum);

  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  std::size_t num_parameters() const;
  /// Every parameter in group order (for gradient clipping).
  std::vector<torch::Tensor> parameters() const;

  /// The optimizer's type and groups (names, lr, parameter names and shapes) as JSON, and the
  /// per-parameter state (on the CPU) by parameter name.
  nlohmann::json state_json() const;
  std::map<std::string, torch::Tensor> state_tensors() const;

  /// The gradients that the parameters hold (on the CPU) by parameter name: those of an
  /// optimizer step whose batches are not all done yet (train.accumulate_steps), and back.
  std::map<std::string, torch::Tensor> gradient_tensors() const;
  void restore_gradients(const std::map<std::string, torch::Tensor>& tensors,
                         const std::string& source);

  /// Restores what state_json/state_tensors saved. The layout must match this optimizer's
  /// exactly, parameter by parameter (name and shape); otherwise throws ModelError naming
  /// `source` and the first difference, instead of pairing buffers with the wrong weights.
  void load_state(const nlohmann::json& state, const std::map<std::string, torch::Tensor>& tensors,
                  const std::string& source);

 private:
  void add_backbone(const std::vector<torch::jit::NameTensor>& parameters,
                    const std::string& prefix);
  void add_groups(const std::vector<torch::jit::NameTensor>& parameters, const std::string& prefix,
                  double lr_mult, std::int64_t depth = -1, double scale = 1.0);
  void restore_parameter_state(const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& name, const torch::Tensor& parameter,
                               const std::string& where);

  Config config_;
  LayerDepths depths_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<torch::Tensor>> tensors_;  // per group, parallel to its names
};

}  // namespace ftl
