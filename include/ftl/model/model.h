// The network: a TorchScript ResNet-18 (as torchvision exports it) whose classifier head `fc`
// is replaced for the new classes, with an optional frozen backbone.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ftl/config/choices.h"

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

/// The top-level modules a freeze policy holds fixed: "none" -> {}, "backbone" -> every
/// child but fc, "up_to:layerN" -> conv1, bn1, layer1 .. layerN. Throws ModelError when the
/// network lacks one of them.
std::set<std::string> frozen_modules(const torch::jit::Module& module, const std::string& freeze);

/// Sets requires_grad: parameters under a frozen top-level module do not train. Returns the
/// trainable ones with their names, in the module's order.
std::vector<torch::jit::NameTensor> configure_trainable(torch::jit::Module& module,
                                                        const std::set<std::string>& frozen);

/// model.train(training), then, for training, the BatchNorm policy: kFollow puts the frozen
/// modules back in eval mode (a recursive train() on a jit module resets every submodule, and
/// frozen BatchNorm must keep its statistics), kFrozen puts every BatchNorm layer in eval
/// mode, kTrain leaves them all training.
void set_training(torch::jit::Module& module, bool training, const std::set<std::string>& frozen,
                  BatchNormPolicy batchnorm);

/// Whether a submodule is a BatchNorm layer (torch.nn.BatchNorm1d/2d/3d).
bool is_batchnorm(const torch::jit::Module& module);

/// Whether any BatchNorm layer is in training mode (then a batch of one image cannot train).
bool any_batchnorm_training(const torch::jit::Module& module);

}  // namespace ftl
