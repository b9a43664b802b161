// The network as a file gives it: a scripted torchvision classifier (see family.h) whose head
// (head.h) is replaced for the new classes, with part of it optionally frozen, and its layers'
// train and eval modes under the BatchNorm policy.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "ftl/config/choices.h"
#include "ftl/config/config.h"
#include "ftl/model/head.h"

namespace ftl {

struct LoadedModel {
  torch::jit::Module module;
  Head head;            // the classifier head as found in the file, before replace_head
  bool traced = false;  // BatchNorm/Dropout have their training flag baked in as a constant
};

/// Loads a TorchScript file and checks it can be fine-tuned: it has parameters (not frozen or
/// optimized for inference), it is of no refused family, and it has a head where
/// `head_choice` (model.head) says (find_head, with `probe_side`). Throws ModelError naming the
/// path and saying how to export a usable file, and find_head's ConfigError for the head.
LoadedModel load_model(const std::string& path, const torch::Device& device,
                       const std::string& head_choice = "auto", std::int64_t probe_side = 0);

/// True when the module was made by torch.jit.trace: its BatchNorm forward ignores `training`.
bool is_traced(const torch::jit::Module& module);

/// What a freeze policy holds fixed, as module paths (and the names of parameters that lie in
/// no child module, as ViT's class_token): "none" -> {}; "backbone" -> every module but the
/// head's block (Head::block: the Sequential that holds the head, or the head alone); "up_to:NAME"
/// -> the modules from the first up to NAME, a top-level child or a dotted path ("features.6"), in
/// the module's order, with the parameters of the containers on the way. Throws ConfigError naming
/// the policy when NAME is not in the network (listing the modules where it is missing) or would
/// freeze the head.
std::set<std::string> frozen_modules(const torch::jit::Module& module, const Head& head,
                                     const FreezePolicy& freeze);

/// Sets requires_grad: parameters under a frozen path do not train. Returns the
/// trainable ones with their names, in the module's order.
std::vector<torch::jit::NameTensor> configure_trainable(torch::jit::Module& module,
                                                        const std::set<std::string>& frozen);

/// model.train(training), then, for training, the BatchNorm policy: kFollow puts the frozen
/// modules back in eval mode (a recursive train() on a jit module resets every submodule; a
/// frozen part runs as a fixed function: BatchNorm keeps its statistics, Dropout and stochastic
/// depth stay off), kFrozen puts every BatchNorm layer in eval mode, kTrain leaves every layer
/// training, as Python's model.train() does. The head's Dropout is never frozen. A Dropout layer
/// with p = 0 stays in eval mode under every policy: the identity either way, it is skipped
/// rather than drawn (the JIT's training graph draws a mask even for p = 0).
void set_training(torch::jit::Module& module, bool training, const std::set<std::string>& frozen,
                  BatchNormPolicy batchnorm);

/// Whether a submodule is a BatchNorm layer (torch.nn.BatchNorm1d/2d/3d).
bool is_batchnorm(const torch::jit::Module& module);

/// Whether any BatchNorm layer is in training mode (then a batch of one image cannot train).
bool any_batchnorm_training(const torch::jit::Module& module);

/// The probability with which a Dropout or StochasticDepth layer drops while it trains (0 for
/// p = 0, as in ViT's encoder); 0 for any other layer.
double drop_probability(const torch::jit::Module& layer);

/// Whether the network has a BatchNorm layer at all (ViT, Swin and ConvNeXt normalise with
/// LayerNorm only: the BatchNorm policy has nothing to hold there).
bool has_batchnorm(const torch::jit::Module& module);

}  // namespace ftl
