// The training loss: cross-entropy with optional class weights (train.class_weights) and label
// smoothing (train.label_smoothing), with PyTorch's semantics (a weighted mean over the batch).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ftl {

/// Per-class weights from the train.class_weights setting: "none" -> undefined tensor,
/// "balanced" -> n / (classes x count[c]) as scikit-learn computes them, an object -> the
/// named weights, 1 for classes it leaves out. Throws ConfigError naming a class that the
/// training data does not have.
torch::Tensor class_weights(const nlohmann::json& setting, const std::vector<std::string>& classes,
                            const std::vector<std::int64_t>& counts);

/// Mean cross-entropy of logits [n, classes] against labels [n]; `weights` may be undefined.
torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                            const torch::Tensor& weights, double label_smoothing);

}  // namespace ftl
