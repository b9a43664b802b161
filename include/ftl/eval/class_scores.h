// From a network's outputs to the classes a person reads: the probabilities of a batch (with
// test-time augmentation or without) and each image's most probable classes. Shared by
// `ftl evaluate`, `ftl predict` and `ftl serve`, so that all answer alike for the same image.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ftl {

/// Test-time augmentation: what is averaged before the classes are read.
enum class Tta {
  kNone,  // the image as it is
  kFlip,  // the mean of the softmax of the image and of its mirror image (left-right)
};

/// "none" or "flip"; throws ConfigError naming `key` and the value for anything else.
Tta parse_tta(const std::string& text, const std::string& key);
const char* tta_name(Tta tta);

struct ClassScore {
  std::string name;
  std::int64_t index = 0;  // the class's logit index
  double probability = 0;  // softmax probability
};

/// Softmax probabilities [N, classes] of a batch of network inputs [N, 3, S, S] (on the
/// module's device; the module in eval mode, the caller under NoGradGuard).
torch::Tensor class_probabilities(torch::jit::Module& module, const torch::Tensor& inputs, Tta tta);

/// Scores [N, classes] whose softmax is class_probabilities(module, inputs, tta), for the
/// metrics that read logits (loss, accuracy, calibration): without TTA the logits as the
/// network gives them, with it the log of the averaged probabilities.
torch::Tensor class_scores(torch::jit::Module& module, const torch::Tensor& inputs, Tta tta);

/// The k most probable classes of every row of `probabilities` [N, classes], most probable
/// first: one topk for the batch, read from CPU memory, rather than a tensor op and a device
/// sync per image and class.
std::vector<std::vector<ClassScore>> top_classes(const torch::Tensor& probabilities, std::int64_t k,
                                                 const std::vector<std::string>& classes);

}  // namespace ftl
