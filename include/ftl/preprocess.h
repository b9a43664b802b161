// Turns a decoded image into the network's input: resize to a square, scale to [0, 1],
// normalise per channel. The same settings are stored in each checkpoint, so evaluation
// and prediction preprocess exactly as training did.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "ftl/image.h"

namespace ftl {

/// torchvision's ImageNet statistics, which the pretrained ResNet-18 expects.
inline constexpr std::array<float, 3> kImageNetMean = {0.485F, 0.456F, 0.406F};
inline constexpr std::array<float, 3> kImageNetStd = {0.229F, 0.224F, 0.225F};

struct Preprocess {
  std::int64_t image_size = 224;              // output is image_size x image_size
  std::array<float, 3> mean = kImageNetMean;  // subtracted per RGB channel after scaling
  std::array<float, 3> std = kImageNetStd;    // divided per RGB channel after the mean
};

/// Writes the preprocessed image into `out`, a float tensor [3, image_size, image_size]
/// (typically one slot of a batch). Resizing is bilinear with antialiasing, as PIL's.
void preprocess_into(const Image& image, const Preprocess& preprocess, torch::Tensor out);

nlohmann::json preprocess_to_json(const Preprocess& preprocess);

/// Throws ModelError naming the missing or malformed key.
Preprocess preprocess_from_json(const nlohmann::json& json);

}  // namespace ftl
