// Turns a decoded image into the network's input the way torchvision's evaluation recipe does:
// resize the shorter side (Resize(256)), centre-crop the square (CenterCrop(224)), scale to
// [0, 1] and normalise per channel; or, with eval_resize "stretch", resize straight to the
// square. The settings (Preprocess, config/data_config.h) are the config's own and are stored in
// each checkpoint, so evaluation and prediction preprocess exactly as training did.
//
// The work is split in two so that the costly part can be cached: base_image() decodes-side
// work (resize, in 8 bits, as PIL returns it) that does not change between epochs, and
// eval_into() / augment_into() (augment.h) cut the network input out of that base.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/config/data_config.h"
#include "ftl/image/image.h"

namespace ftl {

/// torchvision's ratio of resize to crop (256 / 224), applied to other image sizes.
std::int64_t default_resize(std::int64_t image_size);

/// The shorter side of the base image under center_crop: resize, or its default.
std::int64_t shorter_side(const Preprocess& preprocess);

/// How images must be decoded for this preprocessing (the smallest useful side, orientation).
DecodeOptions decode_options(const Preprocess& preprocess);

/// The uint8 image that later steps cut the input from: center_crop resizes the shorter side
/// to `resize` (the longer one in proportion, truncated as torchvision does); stretch resizes
/// to image_size x image_size. Resizing is bilinear with antialiasing, as PIL's, rounded back
/// to 8 bits. An image already at that size is returned as it is.
Image base_image(Image image, const Preprocess& preprocess);

/// Writes the centre image_size square of a base image into `out` (float [3, S, S], typically
/// one slot of a batch), scaled to [0, 1] and normalised.
void eval_into(const Image& base, const Preprocess& preprocess, torch::Tensor out);

/// base_image then eval_into: the whole evaluation transform of a decoded image.
void preprocess_into(const Image& image, const Preprocess& preprocess, torch::Tensor out);

/// The pixels of an image as a uint8 [3, H, W] view, without a copy: the image must outlive it.
torch::Tensor pixels_view(const Image& image);

/// Scales pixels [3, H, W] of 0..255 (uint8 or float, any strides) to [0, 1], normalises them and
/// writes `out`.
void normalise_into(const torch::Tensor& pixels, const Preprocess& preprocess, torch::Tensor out);

/// Bilinear antialiased resize of uint8-valued float pixels [3, H, W] to [3, height, width],
/// rounded to whole levels as PIL's 8-bit resize returns them.
torch::Tensor resize_levels(const torch::Tensor& pixels, std::int64_t height, std::int64_t width);

nlohmann::json preprocess_to_json(const Preprocess& preprocess);

/// Throws ModelError naming the missing or malformed key. Checkpoints written before the
/// centre crop existed have no "eval_resize" and were trained with EvalResize::kStretch, which
/// is kept.
Preprocess preprocess_from_json(const nlohmann::json& json);

}  // namespace ftl
