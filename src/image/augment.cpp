#include "ftl/image/augment.h"

#include <algorithm>
#include <cmath>

#include "ftl/image/auto_augment.h"

namespace ftl {
namespace {

/// RandomResizedCrop's tries at a random box before it falls back to a centred one.
constexpr int kCropAttempts = 10;
/// RandomErasing's tries at a box smaller than the image before it erases nothing.
constexpr int kErasingAttempts = 10;
/// A fixed offset that keeps augmentation seeds apart from the shuffle's seeds.
constexpr std::uint64_t kAugmentStream = 0xA0C3E7A5D1B2F489ULL;
/// ITU-R 601 luma weights, as torchvision's rgb_to_grayscale.
constexpr std::array<float, 3> kLuma = {0.2989F, 0.587F, 0.114F};
constexpr double kAugmentMaxByte = 255.0;
constexpr double kFlipProbability = 0.5;

std::int64_t round_to_int(double value) { return static_cast<std::int64_t>(std::nearbyint(value)); }

torch::Tensor grey(const torch::Tensor& pixels) {
  return pixels[0].mul(kLuma[0]).add_(pixels[1], kLuma[1]).add_(pixels[2], kLuma[2]);
}

// ColorJitter on pixels of 0..255: each factor drawn from [max(0, 1-j), 1+j], the three
// adjustments applied in a random order, each clamped to the valid range.
void jitter(torch::Tensor& pixels, double strength, SplitMix64& random) {
  const double low = std::max(0.0, 1.0 - strength);
  const double high = 1.0 + strength;
  std::array<int, 3> order = {0, 1, 2};
  for (std::size_t i = order.size() - 1; i > 0; --i) {
    std::swap(order[i], order[random.below(i + 1)]);
  }
  const std::array<double, 3> factors = {random.uniform(low, high), random.uniform(low, high),
                                         random.uniform(low, high)};
  for (int adjustment : order) {
    const double factor = factors[static_cast<std::size_t>(adjustment)];
    if (adjustment == 0) {  // brightness: blend with black
      pixels.mul_(factor);
    } else if (adjustment == 1) {  // contrast: blend with the mean grey level
      const double mean = grey(pixels).mean().item<double>();
      pixels.mul_(factor).add_((1.0 - factor) * mean);
    } else {  // saturation: blend with each pixel's grey, taken before the blend
      const torch::Tensor grey_levels = grey(pixels).unsqueeze(0);
      pixels.mul_(factor).add_(grey_levels, 1.0 - factor);
    }
    pixels.clamp_(0, kAugmentMaxByte);
  }
}

/// The two sides of one try at a random box, as torchvision draws them: an area share uniform
/// in `scale` and an aspect ratio log-uniform in `ratio`; `along` = sqrt(area x aspect) and
/// `across` = sqrt(area / aspect), each rounded.
struct BoxSides {
  std::int64_t along = 0;
  std::int64_t across = 0;
};

BoxSides random_sides(double area, const std::array<double, 2>& scale,
                      const std::array<double, 2>& ratio, SplitMix64& random) {
  const double target_area = area * random.uniform(scale[0], scale[1]);
  const double aspect = std::exp(random.uniform(std::log(ratio[0]), std::log(ratio[1])));
  return {round_to_int(std::sqrt(target_area * aspect)),
          round_to_int(std::sqrt(target_area / aspect))};
}

// A w x h box at a uniform position inside the image: top drawn first, as torchvision does.
CropBox placed(std::int64_t w, std::int64_t h, std::int64_t width, std::int64_t height,
               SplitMix64& random) {
  const auto top =
      static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(height - h + 1)));
  const auto left =
      static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(width - w + 1)));
  return {left, top, w, h};
}

}  // namespace

CropBox random_resized_crop_box(std::int64_t width, std::int64_t height, const Augment& augment,
                                SplitMix64& random) {
  const double area = static_cast<double>(width) * static_cast<double>(height);
  for (int attempt = 0; attempt < kCropAttempts; ++attempt) {
    // The crop's ratio is width / height.
    const auto [w, h] = random_sides(area, augment.scale, augment.ratio, random);
    if (w > 0 && w <= width && h > 0 && h <= height) return placed(w, h, width, height, random);
  }
  // Fallback: the whole image, narrowed to the nearest allowed ratio.
  const double ratio = static_cast<double>(width) / static_cast<double>(height);
  std::int64_t w = width;
  std::int64_t h = height;
  if (ratio < augment.ratio[0]) {
    h = std::clamp<std::int64_t>(round_to_int(static_cast<double>(w) / augment.ratio[0]), 1,
                                 height);
  } else if (ratio > augment.ratio[1]) {
    w = std::clamp<std::int64_t>(round_to_int(static_cast<double>(h) * augment.ratio[1]), 1, width);
  }
  return {(width - w) / 2, (height - h) / 2, w, h};
}

CropBox random_erasing_box(std::int64_t width, std::int64_t height, const RandomErasing& erasing,
                           SplitMix64& random) {
  const double area = static_cast<double>(width) * static_cast<double>(height);
  for (int attempt = 0; attempt < kErasingAttempts; ++attempt) {
    // torchvision's erasing ratio is height / width, the other way round from the crop's.
    const auto [h, w] = random_sides(area, erasing.scale, erasing.ratio, random);
    if (h < height && w < width) return placed(w, h, width, height, random);
  }
  return {0, 0, 0, 0};
}

void erase_randomly(torch::Tensor& input, const RandomErasing& erasing, SplitMix64& random) {
  if (erasing.p <= 0 || random.uniform() >= erasing.p) return;
  const CropBox box = random_erasing_box(input.size(2), input.size(1), erasing, random);
  if (box.width == 0) return;
  torch::Tensor patch = input.narrow(1, box.top, box.height).narrow(2, box.left, box.width);
  if (!erasing.value.random) {
    patch.fill_(erasing.value.value);
    return;
  }
  // The noise comes from this image's own stream, so that it too repeats on resume.
  torch::Generator noise = at::detail::createCPUGenerator(random.next());
  patch.copy_(torch::randn(patch.sizes(), noise));
}

std::uint64_t augment_seed(std::uint64_t run_seed, std::int64_t epoch, std::size_t sample_index) {
  const std::uint64_t epoch_seed =
      mix64(mix64(run_seed ^ kAugmentStream) ^ static_cast<std::uint64_t>(epoch));
  return mix64(epoch_seed ^ static_cast<std::uint64_t>(sample_index));
}

void augment_into(const Image& base, const Preprocess& preprocess, const Augment& augment,
                  std::uint64_t seed, torch::Tensor out) {
  SplitMix64 random(seed);
  const CropBox box = random_resized_crop_box(base.width, base.height, augment, random);
  const bool flip = augment.hflip && random.uniform() < kFlipProbability;
  const std::int64_t side = preprocess.image_size;
  torch::Tensor pixels = resize_levels(
      pixels_view(base).narrow(1, box.top, box.height).narrow(2, box.left, box.width), side, side);
  if (flip) pixels = pixels.flip({2});
  // On the whole levels of the crop, as torchvision's policies take uint8 images; under policy
  // none it draws nothing, so the stream of the steps after it is unchanged.
  apply_auto_augment(pixels, augment, random);
  if (augment.color_jitter > 0) jitter(pixels, augment.color_jitter, random);
  normalise_into(pixels, preprocess, out);
  erase_randomly(out, augment.erasing, random);
}

}  // namespace ftl
