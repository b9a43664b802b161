// Training augmentation: RandomResizedCrop's boxes stay inside the image and within the
// configured area and ratio, the fallback box is torchvision's, flips and jitter happen, and
// each image's augmentation depends only on its seed.
#include "ftl/image/augment.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <set>

#include "ftl/image/preprocess.h"

namespace ftl {
namespace {

/// A width x height image with a horizontal ramp in red and a vertical one in green, so that
/// crops and flips of it differ from one another.
Image ramp(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.pixels.push_back(static_cast<std::uint8_t>(255 * x / (width - 1)));
      image.pixels.push_back(static_cast<std::uint8_t>(255 * y / (height - 1)));
      image.pixels.push_back(100);
    }
  }
  return image;
}

/// Preprocessing that keeps the 0..1 scale (mean 0, std 1), for side x side inputs.
Preprocess plain(std::int64_t side) {
  Preprocess preprocess;
  preprocess.image_size = side;
  preprocess.mean = {0, 0, 0};
  preprocess.std = {1, 1, 1};
  return preprocess;
}

// Colour jitter of `strength` alone: the crop is the whole image, never mirrored.
Augment jitter_only(double strength) {
  Augment augment;
  augment.enabled = true;
  augment.scale = {1.0, 1.0};
  augment.ratio = {1.0, 1.0};
  augment.hflip = false;
  augment.color_jitter = strength;
  return augment;
}

TEST_CASE("augment: random crops lie inside the image, within area and ratio", "[augment]") {
  Augment augment;
  augment.enabled = true;
  augment.scale = {0.25, 0.5};
  augment.ratio = {0.5, 2.0};
  constexpr std::int64_t kWidth = 300;
  constexpr std::int64_t kHeight = 200;
  std::set<std::int64_t> lefts;
  for (std::uint64_t seed = 0; seed < 500; ++seed) {
    SplitMix64 random(seed);
    const CropBox box = random_resized_crop_box(kWidth, kHeight, augment, random);
    INFO("seed " << seed << ": " << box.left << "," << box.top << " " << box.width << "x"
                 << box.height);
    REQUIRE(box.left >= 0);
    REQUIRE(box.top >= 0);
    REQUIRE(box.left + box.width <= kWidth);
    REQUIRE(box.top + box.height <= kHeight);
    const double area = static_cast<double>(box.width * box.height) / (kWidth * kHeight);
    CHECK(area >= 0.25 * 0.97);  // rounding each side to whole pixels moves the area a little
    CHECK(area <= 0.5 * 1.03);
    const double ratio = static_cast<double>(box.width) / static_cast<double>(box.height);
    CHECK(ratio >= 0.5 * 0.97);
    CHECK(ratio <= 2.0 * 1.03);
    lefts.insert(box.left);
  }
  CHECK(lefts.size() > 50);  // positions vary
}

TEST_CASE("augment: when no random box fits, the centred box of the nearest ratio is taken",
          "[augment]") {
  Augment augment;
  augment.enabled = true;
  augment.scale = {0.9, 1.0};
  augment.ratio = {1.0, 1.0};  // a square of 90% of a 100x10 image never fits
  SplitMix64 random(1);
  const CropBox box = random_resized_crop_box(100, 10, augment, random);
  CHECK(box.width == 10);
  CHECK(box.height == 10);
  CHECK(box.left == 45);
  CHECK(box.top == 0);
}

TEST_CASE("augment: seeds differ per image and epoch, and an image's output follows its seed",
          "[augment]") {
  CHECK(augment_seed(1, 1, 5) == augment_seed(1, 1, 5));
  CHECK(augment_seed(1, 1, 5) != augment_seed(1, 1, 6));
  CHECK(augment_seed(1, 1, 5) != augment_seed(1, 2, 5));
  CHECK(augment_seed(1, 1, 5) != augment_seed(2, 1, 5));

  Augment augment;
  augment.enabled = true;
  augment.color_jitter = 0.4;
  const Image base = ramp(40, 30);
  const Preprocess preprocess = plain(16);
  torch::Tensor first = torch::empty({3, 16, 16});
  torch::Tensor again = torch::empty({3, 16, 16});
  torch::Tensor other = torch::empty({3, 16, 16});
  augment_into(base, preprocess, augment, 77, first);
  augment_into(base, preprocess, augment, 77, again);
  augment_into(base, preprocess, augment, 78, other);
  CHECK(torch::equal(first, again));
  CHECK(!torch::equal(first, other));
  CHECK(first.min().item<float>() >= 0.0F);  // jitter is clamped to the valid range
  CHECK(first.max().item<float>() <= 1.0F);
}

TEST_CASE("augment: a whole-image crop is the eval input or its mirror, each about half the time",
          "[augment]") {
  Augment augment;
  augment.enabled = true;
  augment.scale = {1.0, 1.0};
  augment.ratio = {1.0, 1.0};
  const Preprocess preprocess = plain(12);
  const Image base = ramp(12, 12);
  torch::Tensor expected = torch::empty({3, 12, 12});
  eval_into(base, preprocess, expected);
  int flipped = 0;
  constexpr int kTrials = 200;
  for (int seed = 0; seed < kTrials; ++seed) {
    torch::Tensor out = torch::empty({3, 12, 12});
    augment_into(base, preprocess, augment, static_cast<std::uint64_t>(seed), out);
    if (torch::equal(out, expected)) continue;
    REQUIRE(torch::equal(out, expected.flip({2})));
    ++flipped;
  }
  CHECK(flipped > kTrials / 2 - 30);
  CHECK(flipped < kTrials / 2 + 30);

  augment.hflip = false;
  torch::Tensor out = torch::empty({3, 12, 12});
  for (int seed = 0; seed < 20; ++seed) {
    augment_into(base, preprocess, augment, static_cast<std::uint64_t>(seed), out);
    CHECK(torch::equal(out, expected));
  }
}

TEST_CASE("augment: colour jitter changes brightness, contrast and saturation within bounds",
          "[augment]") {
  const Augment augment = jitter_only(0.5);
  const Preprocess preprocess = plain(12);
  const Image base = ramp(12, 12);
  torch::Tensor plain_input = torch::empty({3, 12, 12});
  eval_into(base, preprocess, plain_input);
  const double plain_mean = plain_input.mean().item<double>();
  double lowest = 1.0;
  double highest = 0.0;
  for (int seed = 0; seed < 50; ++seed) {
    torch::Tensor out = torch::empty({3, 12, 12});
    augment_into(base, preprocess, augment, static_cast<std::uint64_t>(seed), out);
    const double mean = out.mean().item<double>();
    lowest = std::min(lowest, mean);
    highest = std::max(highest, mean);
    // Brightness, contrast and saturation at most halve or 1.5x the levels around their means.
    CHECK(mean > plain_mean * 0.5 * 0.5 * 0.5 - 1e-6);
  }
  CHECK(lowest < plain_mean - 0.05);  // some images darker, some brighter
  CHECK(highest > plain_mean + 0.05);
}

TEST_CASE("augment: jitter scales grey by brightness and colour by contrast times saturation",
          "[augment]") {
  // On a flat image with no clamping all three adjustments are linear: brightness b scales
  // every level, contrast c and saturation s each scale the distance from the grey level. So
  // the grey level scales by b and a channel difference by b*c*s, in any order.
  const Augment augment = jitter_only(0.5);
  Image flat;
  flat.width = 12;
  flat.height = 12;
  for (int i = 0; i < 12 * 12; ++i) flat.pixels.insert(flat.pixels.end(), {110, 100, 90});
  const Preprocess preprocess = plain(12);
  auto grey_of = [](const torch::Tensor& pixels) {
    return (0.2989 * pixels[0] + 0.587 * pixels[1] + 0.114 * pixels[2]).mean().item<double>();
  };
  auto spread_of = [](const torch::Tensor& pixels) {
    return (pixels[0] - pixels[2]).mean().item<double>();  // red minus blue
  };
  torch::Tensor before = torch::empty({3, 12, 12});
  eval_into(flat, preprocess, before);
  double lowest_colour = 10.0;
  double highest_colour = 0.0;
  for (int seed = 0; seed < 300; ++seed) {
    torch::Tensor out = torch::empty({3, 12, 12});
    augment_into(flat, preprocess, augment, static_cast<std::uint64_t>(seed), out);
    const double brightness = grey_of(out) / grey_of(before);
    const double contrast_saturation = spread_of(out) / spread_of(before) / brightness;
    INFO("seed " << seed);
    CHECK(brightness >= 0.5 - 1e-3);
    CHECK(brightness <= 1.5 + 1e-3);
    CHECK(contrast_saturation >= 0.25 - 1e-3);
    CHECK(contrast_saturation <= 2.25 + 1e-3);
    lowest_colour = std::min(lowest_colour, contrast_saturation);
    highest_colour = std::max(highest_colour, contrast_saturation);
  }
  // A product of two factors reaches below 0.5 and above 1.5 (about 10% of draws each); one
  // factor alone, with contrast or saturation missing, never would.
  CHECK(lowest_colour < 0.45);
  CHECK(highest_colour > 1.6);
}

}  // namespace
}  // namespace ftl

namespace ftl {

TEST_CASE("augment: random erasing boxes are smaller than the image, within area and ratio",
          "[augment]") {
  RandomErasing erasing;  // torchvision's scale [0.02, 0.33] and ratio [0.3, 3.3]
  const std::int64_t width = 60;
  const std::int64_t height = 40;
  const double area = static_cast<double>(width * height);
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    SplitMix64 random(seed);
    const CropBox box = random_erasing_box(width, height, erasing, random);
    if (box.width == 0) continue;  // ten tries missed: allowed, and rare at these settings
    INFO("seed " << seed);
    CHECK(box.width < width);
    CHECK(box.height < height);
    CHECK(box.left + box.width <= width);
    CHECK(box.top + box.height <= height);
    // Rounding each side moves the area by at most about a side's length.
    const double box_area = static_cast<double>(box.width * box.height);
    const auto rounding = static_cast<double>(box.width + box.height);
    CHECK(box_area >= erasing.scale[0] * area - rounding);
    CHECK(box_area <= erasing.scale[1] * area + rounding);
    const double ratio = static_cast<double>(box.height) / static_cast<double>(box.width);
    CHECK(ratio >= erasing.ratio[0] * 0.7);
    CHECK(ratio <= erasing.ratio[1] / 0.7);
  }
  // The ratio is height / width (the crop's is width / height): a tall ratio gives tall boxes.
  erasing.ratio = {2.0, 3.0};
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    SplitMix64 tall(seed);
    const CropBox box = random_erasing_box(width, height, erasing, tall);
    if (box.width > 0) CHECK(box.height > box.width);
  }
  // A box of the whole area never fits (both sides must be smaller): no box after ten tries.
  erasing.scale = {1.0, 1.0};
  erasing.ratio = {1.0, 1.0};
  SplitMix64 random(1);
  CHECK(random_erasing_box(40, 40, erasing, random).width == 0);
}

TEST_CASE("augment: random erasing fills one box with the value or with normal noise",
          "[augment]") {
  torch::manual_seed(0);
  const torch::Tensor input = torch::rand({3, 64, 64}) + 5;  // no value of it is 0 or noise-like
  RandomErasing erasing;
  erasing.p = 1;
  erasing.scale = {0.3, 0.33};
  erasing.value = ErasingFill{false, 0.0};
  torch::Tensor zeroed = input.clone();
  SplitMix64 random(7);
  erase_randomly(zeroed, erasing, random);
  SplitMix64 same(7);
  same.uniform();  // the draw against p
  const CropBox box = random_erasing_box(64, 64, erasing, same);
  REQUIRE(box.width > 0);
  const torch::Tensor inside = zeroed.narrow(1, box.top, box.height).narrow(2, box.left, box.width);
  CHECK(torch::equal(inside, torch::zeros_like(inside)));
  CHECK((zeroed == 0).sum().item<std::int64_t>() == 3 * box.width * box.height);
  torch::Tensor outside = zeroed.clone();
  outside.narrow(1, box.top, box.height)
      .narrow(2, box.left, box.width)
      .copy_(input.narrow(1, box.top, box.height).narrow(2, box.left, box.width));
  CHECK(torch::equal(outside, input));  // nothing but the box changed

  erasing.value = ErasingFill{};  // "random"
  torch::Tensor noisy = input.clone();
  SplitMix64 again(7);
  erase_randomly(noisy, erasing, again);
  const torch::Tensor noise = noisy.narrow(1, box.top, box.height).narrow(2, box.left, box.width);
  CHECK(std::abs(noise.mean().item<double>()) < 0.1);
  CHECK(std::abs(noise.std().item<double>() - 1.0) < 0.1);
  // The same seed erases the same box with the same noise: a resumed epoch repeats.
  torch::Tensor repeat = input.clone();
  SplitMix64 seed_again(7);
  erase_randomly(repeat, erasing, seed_again);
  CHECK(torch::equal(repeat, noisy));
}

TEST_CASE("augment: the training input is erased after normalisation when random erasing is on",
          "[augment]") {
  Augment augment = jitter_only(0.0);  // the eval input itself (jitter 0 = off), then the box
  augment.erasing.p = 1;
  augment.erasing.value = ErasingFill{false, -7.0};  // below any normalised level
  const Preprocess preprocess = plain(12);
  const Image base = ramp(12, 12);
  torch::Tensor expected = torch::empty({3, 12, 12});
  eval_into(base, preprocess, expected);
  torch::Tensor out = torch::empty({3, 12, 12});
  augment_into(base, preprocess, augment, /*seed=*/5, out);
  const std::int64_t erased = (out == -7.0).sum().item<std::int64_t>();
  CHECK(erased > 0);
  CHECK(erased % 3 == 0);  // the same box in each channel
  CHECK(torch::equal(torch::where(out == -7.0, expected, out), expected));
}

TEST_CASE("augment: random erasing at p 0 changes nothing and draws nothing", "[augment]") {
  const torch::Tensor input = torch::rand({3, 16, 16});
  torch::Tensor kept = input.clone();
  RandomErasing off;  // p = 0
  SplitMix64 random(3);
  erase_randomly(kept, off, random);
  CHECK(torch::equal(kept, input));
  SplitMix64 fresh(3);
  CHECK(random.next() == fresh.next());  // augmentation without it keeps its exact stream
}

}  // namespace ftl
