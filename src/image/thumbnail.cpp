#include "ftl/image/thumbnail.h"

#include <algorithm>
#include <cmath>
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

// Nearest neighbour to width x height (no smaller than the image), as torch's "nearest":
// output pixel x takes input pixel floor(x * in / out).
Image grown(const Image& image, int width, int height) {
  Image out{width, height,
            std::vector<std::uint8_t>(static_cast<std::size_t>(width) *
                                      static_cast<std::size_t>(height) * 3)};
  std::size_t at = 0;
  for (int y = 0; y < height; ++y) {
    const std::size_t row = static_cast<std::size_t>(y * image.height / height);
    for (int x = 0; x < width; ++x) {
      const std::size_t column = static_cast<std::size_t>(x * image.width / width);
      const std::size_t from = (row * static_cast<std::size_t>(image.width) + column) * 3;
      for (std::size_t c = 0; c < 3; ++c) out.pixels[at++] = image.pixels[from + c];
    }
  }
  return out;
}

}  // namespace

// Plain loops here and for growing a thumbnail: an evaluation makes one for every candidate
// of its gallery, and on inputs this small the tensor operations' fixed cost is most of the
// work (a gallery of 200 on the demo's scratch run cost 16% of ftl report through them).
Image input_view(const torch::Tensor& input, const Preprocess& preprocess) {
  if (input.dim() != 3 || input.size(0) != 3) {
    throw std::invalid_argument("input_view: expected [3, H, W], got " +
                                std::to_string(input.dim()) + " dimensions");
  }
  const torch::Tensor values = input.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  Image image;
  image.height = static_cast<int>(values.size(1));
  image.width = static_cast<int>(values.size(2));
  const auto plane = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height);
  image.pixels.resize(plane * 3);
  const float* value = values.data_ptr<float>();
  for (std::size_t c = 0; c < 3; ++c) {
    for (std::size_t i = 0; i < plane; ++i) {
      const float unit = value[c * plane + i] * preprocess.std[c] + preprocess.mean[c];
      const float level = std::nearbyint(unit * static_cast<float>(kLevels));
      image.pixels[i * 3 + c] =
          static_cast<std::uint8_t>(std::clamp(level, 0.0F, static_cast<float>(kLevels)));
    }
  }
  return image;
}

Image thumbnail(const Image& image, int side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= 0 || side <= 0) throw std::invalid_argument("thumbnail: an empty image or side");
  const auto scaled = [&](int length) {
    return std::max<std::int64_t>(1, std::int64_t{length} * side / longer);
  };
  if (side >= longer)
    return grown(image, static_cast<int>(scaled(image.width)),
                 static_cast<int>(scaled(image.height)));
  const torch::Tensor pixels = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                                                {image.height, image.width, 3}, torch::kUInt8)
                                   .permute({2, 0, 1})
                                   .unsqueeze(0)
                                   .to(torch::kFloat32);
  namespace F = torch::nn::functional;
  const auto options =
      F::InterpolateFuncOptions()
          .size(std::vector<std::int64_t>{scaled(image.height), scaled(image.width)})
          .mode(torch::kArea);
  const torch::Tensor resized = F::interpolate(pixels, options).round().clamp(0, kLevels);
  return to_image(resized.squeeze(0).permute({1, 2, 0}));
}

}  // namespace ftl
