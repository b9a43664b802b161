#include "ftl/preprocess.h"

#include "ftl/errors.h"

namespace ftl {

void preprocess_into(const Image& image, const Preprocess& preprocess, torch::Tensor out) {
  constexpr double kMaxByte = 255.0;
  // from_blob does not copy: the image outlives this function's tensors.
  torch::Tensor pixels = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                                          {image.height, image.width, 3}, torch::kUInt8)
                             .permute({2, 0, 1})
                             .to(torch::kFloat32);
  const std::int64_t side = preprocess.image_size;
  if (image.height != side || image.width != side) {
    namespace F = torch::nn::functional;
    // Resized on the 0-255 scale and rounded back to whole levels, as PIL's resize returns
    // 8-bit pixels: inputs then match a torchvision-on-PIL pipeline to within one level.
    pixels = F::interpolate(pixels.unsqueeze(0), F::InterpolateFuncOptions()
                                                     .size(std::vector<std::int64_t>{side, side})
                                                     .mode(torch::kBilinear)
                                                     .align_corners(false)
                                                     .antialias(true))
                 .squeeze(0)
                 .round_()
                 .clamp_(0, kMaxByte);
  }
  pixels.div_(kMaxByte);
  // Views of the preprocess arrays: no tensor is allocated per image for the statistics.
  const auto mean = torch::from_blob(const_cast<float*>(preprocess.mean.data()), {3, 1, 1});
  const auto std = torch::from_blob(const_cast<float*>(preprocess.std.data()), {3, 1, 1});
  out.copy_(pixels.sub_(mean).div_(std));
}

nlohmann::json preprocess_to_json(const Preprocess& preprocess) {
  return {{"image_size", preprocess.image_size},
          {"mean", preprocess.mean},
          {"std", preprocess.std},
          {"resize", "bilinear-antialias"}};
}

Preprocess preprocess_from_json(const nlohmann::json& json) {
  Preprocess preprocess;
  try {
    preprocess.image_size = json.at("image_size").get<std::int64_t>();
    preprocess.mean = json.at("mean").get<std::array<float, 3>>();
    preprocess.std = json.at("std").get<std::array<float, 3>>();
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(std::string("preprocessing metadata: ") + error.what());
  }
  if (preprocess.image_size < 1) {
    throw ModelError("preprocessing metadata: image_size must be >= 1, got " +
                     std::to_string(preprocess.image_size));
  }
  for (float value : preprocess.std) {
    if (!(value > 0)) throw ModelError("preprocessing metadata: std values must be > 0");
  }
  return preprocess;
}

}  // namespace ftl
