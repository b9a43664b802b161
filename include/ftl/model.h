// The network: a TorchScript ResNet-18 (as torchvision exports it) whose classifier head `fc`
// is replaced for the new classes, with an optional frozen backbone.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ftl {

/// The name of the classifier submodule in torchvision's ResNet family.
inline constexpr const char* kHeadName = "fc";

struct LoadedModel {
  torch::jit::Module module;
  bool traced = false;  // BatchNorm/Dropout have their training flag baked in as a constant
};

/// Loads a TorchScript file and checks it can be fine-tuned: it has parameters (not frozen or
/// optimized for inference) and an `fc` submodule with 2-d weight and 1-d bias. Throws
/// ModelError naming the path and saying how to export a usable file.
LoadedModel load_model(const std::string& path, const torch::Device& device);

/// True when the module was made by torch.jit.trace: its BatchNorm forward ignores `training`.
bool is_traced(const torch::jit::Module& module);

std::int64_t head_in_features(const torch::jit::Module& module);
std::int64_t head_out_features(const torch::jit::Module& module);

/// Gives fc new weight [num_classes, in_features] and bias, initialised as torch.nn.Linear
/// does (uniform in +-1/sqrt(in_features)) from `seed`, and patches the class constant
/// out_features so that Python's torch.jit.load sees the new value.
void replace_head(torch::jit::Module& module, std::int64_t num_classes, std::uint64_t seed);

/// Whether a parameter belongs to the head (trains whatever the freeze policy).
bool is_head_parameter(const std::string& name);

/// Sets requires_grad per the policy ("none" or "backbone") and returns what trains.
std::vector<torch::Tensor> configure_trainable(torch::jit::Module& module,
                                               const std::string& freeze);

/// model.train(training), then puts every frozen submodule back in eval mode: a recursive
/// train() on a jit module resets all submodules, and frozen BatchNorm must keep its statistics.
void set_training(torch::jit::Module& module, bool training, const std::string& freeze);

}  // namespace ftl
