#include "ftl/image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

constexpr double kMaxByte = 255.0;
constexpr std::int64_t kChannels = 3;

/// torchvision's evaluation recipe resizes to 256 before cropping 224.
constexpr std::int64_t kRecipeResize = 256;
constexpr std::int64_t kRecipeCrop = 224;

/// Where a centred window of `window` pixels starts in `extent` pixels, rounded half to even
/// as torchvision's CenterCrop does (Python's round()).
std::int64_t centred_start(std::int64_t extent, std::int64_t window) {
  return static_cast<std::int64_t>(std::nearbyint(static_cast<double>(extent - window) / 2.0));
}

}  // namespace

torch::Tensor pixels_view(const Image& image) {
  return torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                          {image.height, image.width, kChannels}, torch::kUInt8)
      .permute({2, 0, 1});
}

std::int64_t default_resize(std::int64_t image_size) {
  return (image_size * kRecipeResize + kRecipeCrop / 2) / kRecipeCrop;  // rounded
}

std::int64_t shorter_side(const Preprocess& preprocess) {
  return preprocess.resize > 0 ? preprocess.resize : default_resize(preprocess.image_size);
}

DecodeOptions decode_options(const Preprocess& preprocess) {
  DecodeOptions options;
  options.exif_orientation = preprocess.exif_orientation;
  if (preprocess.jpeg_dct_scaling) {
    // Both sides must stay at least as large as the base image's shorter side.
    options.min_side =
        static_cast<int>(preprocess.eval_resize == EvalResize::kStretch ? preprocess.image_size
                                                                        : shorter_side(preprocess));
  }
  return options;
}

torch::Tensor resize_levels(const torch::Tensor& pixels, std::int64_t height, std::int64_t width) {
  namespace F = torch::nn::functional;
  // Resized on the 0-255 scale and rounded back to whole levels, as PIL's resize returns
  // 8-bit pixels: inputs then match a torchvision-on-PIL pipeline to within one level.
  return F::interpolate(pixels.to(torch::kFloat32).unsqueeze(0),
                        F::InterpolateFuncOptions()
                            .size(std::vector<std::int64_t>{height, width})
                            .mode(torch::kBilinear)
                            .align_corners(false)
                            .antialias(true))
      .squeeze(0)
      .round_()
      .clamp_(0, kMaxByte);
}

Image base_image(Image image, const Preprocess& preprocess) {
  std::int64_t width = preprocess.image_size;
  std::int64_t height = preprocess.image_size;
  if (preprocess.eval_resize != EvalResize::kStretch) {
    const std::int64_t shorter = std::min(image.width, image.height);
    const std::int64_t longer = std::max(image.width, image.height);
    const std::int64_t target = shorter_side(preprocess);
    const std::int64_t resized_longer = target * longer / shorter;  // truncated
    if (resized_longer > kMaxImageSide) {
      throw DataError("image size " + std::to_string(image.width) + "x" +
                      std::to_string(image.height) + " is too elongated: its longer side would " +
                      "be resized to " + std::to_string(resized_longer) + " pixels");
    }
    const bool wide = image.width >= image.height;
    width = wide ? resized_longer : target;
    height = wide ? target : resized_longer;
  }
  if (image.width == width && image.height == height) return image;

  const torch::Tensor resized =
      resize_levels(pixels_view(image), height, width).to(torch::kUInt8).permute({1, 2, 0});
  Image base;
  base.width = static_cast<int>(width);
  base.height = static_cast<int>(height);
  base.pixels.resize(static_cast<std::size_t>(width * height * kChannels));
  torch::from_blob(base.pixels.data(), {height, width, kChannels}, torch::kUInt8).copy_(resized);
  return base;
}

void normalise_into(const torch::Tensor& pixels, const Preprocess& preprocess, torch::Tensor out) {
  out.copy_(pixels);  // converts to float
  out.div_(kMaxByte);
  // Views of the preprocess arrays: no tensor is allocated per image for the statistics.
  const auto mean = torch::from_blob(const_cast<float*>(preprocess.mean.data()), {3, 1, 1});
  const auto std = torch::from_blob(const_cast<float*>(preprocess.std.data()), {3, 1, 1});
  out.sub_(mean).div_(std);
}

void eval_into(const Image& base, const Preprocess& preprocess, torch::Tensor out) {
  const std::int64_t side = preprocess.image_size;
  if (base.width < side || base.height < side) {
    throw std::logic_error("eval_into: base image " + std::to_string(base.width) + "x" +
                           std::to_string(base.height) + " is smaller than the " +
                           std::to_string(side) + "-pixel crop");
  }
  const torch::Tensor crop = pixels_view(base)
                                 .narrow(1, centred_start(base.height, side), side)
                                 .narrow(2, centred_start(base.width, side), side);
  normalise_into(crop, preprocess, std::move(out));
}

void preprocess_into(const Image& image, const Preprocess& preprocess, torch::Tensor out) {
  eval_into(base_image(image, preprocess), preprocess, std::move(out));
}

nlohmann::json preprocess_to_json(const Preprocess& preprocess) {
  return {{"image_size", preprocess.image_size},
          {"resize_shorter_side", shorter_side(preprocess)},
          {"eval_resize", to_string(preprocess.eval_resize)},
          {"exif_orientation", preprocess.exif_orientation},
          {"jpeg_dct_scaling", preprocess.jpeg_dct_scaling},
          {"mean", preprocess.mean},
          {"std", preprocess.std},
          {"resize", "bilinear-antialias"}};
}

Preprocess preprocess_from_json(const nlohmann::json& json) {
  Preprocess preprocess;
  // Checkpoints written before the centre crop existed have no eval_resize: they stretched.
  std::string eval_resize = to_string(EvalResize::kStretch);
  try {
    preprocess.image_size = json.at("image_size").get<std::int64_t>();
    preprocess.mean = json.at("mean").get<std::array<float, 3>>();
    preprocess.std = json.at("std").get<std::array<float, 3>>();
    if (json.contains("eval_resize")) {
      eval_resize = json.at("eval_resize").get<std::string>();
      preprocess.resize = json.at("resize_shorter_side").get<std::int64_t>();
      preprocess.exif_orientation = json.at("exif_orientation").get<bool>();
      preprocess.jpeg_dct_scaling = json.at("jpeg_dct_scaling").get<bool>();
    } else {  // written before these settings existed: images were stretched, as stored
      preprocess.resize = preprocess.image_size;
      preprocess.exif_orientation = false;
      preprocess.jpeg_dct_scaling = false;
    }
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(std::string("preprocessing metadata: ") + error.what());
  }
  const std::string where = "preprocessing metadata: ";
  if (preprocess.image_size < 1) {
    throw ModelError(where + "image_size must be >= 1, got " +
                     std::to_string(preprocess.image_size));
  }
  if (eval_resize == to_string(EvalResize::kCenterCrop)) {
    preprocess.eval_resize = EvalResize::kCenterCrop;
  } else if (eval_resize == to_string(EvalResize::kStretch)) {
    preprocess.eval_resize = EvalResize::kStretch;
  } else {
    throw ModelError(where + "eval_resize must be \"" + to_string(EvalResize::kCenterCrop) +
                     "\" or \"" + to_string(EvalResize::kStretch) + "\", got \"" + eval_resize +
                     "\"");
  }
  if (preprocess.resize < preprocess.image_size) {
    throw ModelError(where + "resize_shorter_side must be >= image_size (" +
                     std::to_string(preprocess.image_size) + "), got " +
                     std::to_string(preprocess.resize));
  }
  for (float value : preprocess.std) {
    if (!(value > 0)) throw ModelError(where + "std values must be > 0");
  }
  return preprocess;
}

}  // namespace ftl
