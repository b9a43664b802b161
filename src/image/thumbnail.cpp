#include "ftl/image/thumbnail.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace ftl {
namespace {

constexpr double kLevels = 255.0;

// uint8 [H, W, 3] pixels of any strides into an Image.
Image to_image(const torch::Tensor& hwc) {
  const torch::Tensor pixels = hwc.to(torch::kUInt8).contiguous();
  Image image;
  image.height = static_cast<int>(pixels.size(0));
  image.width = static_cast<int>(pixels.size(1));
  image.pixels.resize(static_cast<std::size_t>(pixels.numel()));
  std::memcpy(image.pixels.data(), pixels.data_ptr<std::uint8_t>(), image.pixels.size());
  return image;
}

}  // namespace

Image input_view(const torch::Tensor& input, const Preprocess& preprocess) {
  if (input.dim() != 3 || input.size(0) != 3) {
    throw std::invalid_argument("input_view: expected [3, H, W], got " +
                                std::to_string(input.dim()) + " dimensions");
  }
  const torch::Tensor mean =
      torch::tensor({preprocess.mean[0], preprocess.mean[1], preprocess.mean[2]}).view({3, 1, 1});
  const torch::Tensor std =
      torch::tensor({preprocess.std[0], preprocess.std[1], preprocess.std[2]}).view({3, 1, 1});
  const torch::Tensor unit = input.detach().to(torch::kCPU, torch::kFloat32) * std + mean;
  return to_image((unit * kLevels).round().clamp(0, kLevels).permute({1, 2, 0}));
}

Image thumbnail(const Image& image, int side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= 0 || side <= 0) throw std::invalid_argument("thumbnail: an empty image or side");
  const auto scaled = [&](int length) {
    return std::max<std::int64_t>(1, std::int64_t{length} * side / longer);
  };
  const torch::Tensor pixels = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                                                {image.height, image.width, 3}, torch::kUInt8)
                                   .permute({2, 0, 1})
                                   .unsqueeze(0)
                                   .to(torch::kFloat32);
  namespace F = torch::nn::functional;
  auto options = F::InterpolateFuncOptions().size(
      std::vector<std::int64_t>{scaled(image.height), scaled(image.width)});
  if (side >= longer) {
    options.mode(torch::kNearest);
  } else {
    options.mode(torch::kArea);
  }
  const torch::Tensor resized = F::interpolate(pixels, options).round().clamp(0, kLevels);
  return to_image(resized.squeeze(0).permute({1, 2, 0}));
}

}  // namespace ftl
