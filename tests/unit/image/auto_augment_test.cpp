// Auto augmentation: the seeded stream of drawn operations is pinned for each policy, drawn
// magnitudes stay in their ranges (at the bin itself without noise), posterize's bits follow
// torchvision's tables, the operations keep whole levels, and augment_into applies the policy
// from its seed while policy none leaves its stream and output as they were. The comparison of
// each operation with torchvision itself is tests/e2e/auto_augment_test.cpp.
#include "ftl/image/auto_augment.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "ftl/image/augment.h"
#include "ftl/image/preprocess.h"
#include "support/preprocess.h"

namespace ftl {
namespace {

constexpr std::int64_t kDrawSide = 224;  // the image size of the pinned draws

Augment trivial_policy() {
  Augment augment;
  augment.enabled = true;
  augment.auto_augment = AutoAugmentPolicy::kTrivialWide;
  return augment;
}

Augment rand_policy(double magnitude_std) {
  Augment augment;
  augment.enabled = true;
  augment.auto_augment = AutoAugmentPolicy::kRand;
  augment.rand_augment.magnitude_std = magnitude_std;
  return augment;
}

/// The draws of `images` images in a row from one stream seeded by `seed`.
std::vector<OperationDraw> draws_of(const Augment& augment, std::uint64_t seed, int images) {
  SplitMix64 random(seed);
  std::vector<OperationDraw> all;
  for (int i = 0; i < images; ++i) {
    for (const OperationDraw& draw : draw_operations(augment, kDrawSide, kDrawSide, random)) {
      all.push_back(draw);
    }
  }
  return all;
}

void check_draws(const std::vector<OperationDraw>& drawn,
                 const std::vector<OperationDraw>& expected) {
  REQUIRE(drawn.size() == expected.size());
  for (std::size_t i = 0; i < drawn.size(); ++i) {
    INFO("draw " << i << ": " << to_string(drawn[i].operation) << " " << drawn[i].magnitude);
    CHECK(drawn[i].operation == expected[i].operation);
    CHECK(drawn[i].magnitude == Approx(expected[i].magnitude).margin(1e-12));
  }
}

/// A width x height image of seeded random levels.
Image seeded_image(int width, int height, std::uint64_t seed) {
  SplitMix64 random(seed);
  Image image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<std::size_t>(width * height * 3));
  for (auto& value : image.pixels) value = static_cast<std::uint8_t>(random.below(256));
  return image;
}

bool whole_levels(const torch::Tensor& pixels) {
  return torch::equal(pixels, pixels.round()) && pixels.min().item<double>() >= 0 &&
         pixels.max().item<double>() <= 255;
}

TEST_CASE("auto augment: TrivialAugmentWide's seeded draws are pinned", "[augment]") {
  // One operation per image; a bin only for operations with a range, a sign only for signed ones.
  check_draws(draws_of(trivial_policy(), 7, 8),
              {
                  {AugmentOperation::kSharpness, 0.594},
                  {AugmentOperation::kTranslateX, -4.2666666666666666},
                  {AugmentOperation::kAutoContrast, 0},
                  {AugmentOperation::kIdentity, 0},
                  {AugmentOperation::kEqualize, 0},
                  {AugmentOperation::kColor, 0.033},
                  {AugmentOperation::kBrightness, 0.396},
                  {AugmentOperation::kAutoContrast, 0},
              });
}

TEST_CASE("auto augment: RandAugment's seeded draws are pinned, with and without noise",
          "[augment]") {
  SECTION("magnitude_std 0: every magnitude is the one of bin 9") {
    const std::vector<OperationDraw> drawn = draws_of(rand_policy(0.0), 7, 4);
    check_draws(drawn,
                {
                    {AugmentOperation::kSharpness, 0.27},
                    {AugmentOperation::kIdentity, 0},
                    {AugmentOperation::kTranslateX, 30.453172205438069},  // 150/331 x 224 x 9/30
                    {AugmentOperation::kEqualize, 0},
                    {AugmentOperation::kAutoContrast, 0},
                    {AugmentOperation::kIdentity, 0},
                    {AugmentOperation::kEqualize, 0},
                    {AugmentOperation::kColor, -0.27},
                });
    for (const OperationDraw& draw : drawn) {
      const double at_bin =
          operation_magnitude(AutoAugmentPolicy::kRand, draw.operation, 9, kDrawSide, kDrawSide);
      CHECK(std::abs(draw.magnitude) == at_bin);  // exactly, not near
    }
  }
  SECTION("magnitude_std 0.5 (the default): the bins vary around 9") {
    check_draws(draws_of(rand_policy(0.5), 7, 4),
                {
                    {AugmentOperation::kSharpness, -0.27224080140105961},
                    {AugmentOperation::kAutoContrast, 0},
                    {AugmentOperation::kEqualize, 0},
                    {AugmentOperation::kAutoContrast, 0},
                    {AugmentOperation::kIdentity, 0},
                    {AugmentOperation::kEqualize, 0},
                    {AugmentOperation::kColor, 0.27679222826826116},
                    {AugmentOperation::kPosterize, 7},
                });
  }
}

TEST_CASE("auto augment: policy none draws nothing, RandAugment draws num_ops operations",
          "[augment]") {
  Augment none;
  SplitMix64 random(3);
  CHECK(draw_operations(none, kDrawSide, kDrawSide, random).empty());
  CHECK(random.next() == SplitMix64(3).next());  // the stream did not move

  Augment five = rand_policy(0.5);
  five.rand_augment.num_ops = 5;
  CHECK(draw_operations(five, kDrawSide, kDrawSide, random).size() == 5);
}

TEST_CASE("auto augment: drawn magnitudes stay within each operation's range", "[augment]") {
  // Noise wide enough that the clipping at bins 0 and 30 happens often.
  Augment noisy = rand_policy(10.0);
  noisy.rand_augment.magnitude = 25;
  for (const auto& [augment, reaches_top] :
       {std::pair{trivial_policy(), true}, std::pair{rand_policy(0.5), false},
        std::pair{noisy, true}}) {
    const AutoAugmentPolicy policy = augment.auto_augment;
    std::set<AugmentOperation> operations;
    bool negated = false;
    bool at_top = false;
    for (std::uint64_t seed = 0; seed < 2000; ++seed) {
      SplitMix64 random(seed);
      for (const OperationDraw& draw : draw_operations(augment, 37, 23, random)) {
        const double low = operation_magnitude(policy, draw.operation, 0, 37, 23);
        const double high = operation_magnitude(policy, draw.operation, kMaxMagnitudeBin, 37, 23);
        INFO(to_string(draw.operation) << " " << draw.magnitude << " in " << low << ".." << high);
        CHECK(std::abs(draw.magnitude) >= std::min(low, high));
        CHECK(std::abs(draw.magnitude) <= std::max(low, high));
        operations.insert(draw.operation);
        negated = negated || draw.magnitude < 0;
        at_top = at_top ||
                 (draw.operation == AugmentOperation::kRotate && std::abs(draw.magnitude) == high);
      }
    }
    CHECK(operations.size() == static_cast<std::size_t>(kAugmentOperationCount));
    CHECK(negated);
    CHECK(at_top == reaches_top);  // the strongest bin is drawn (TrivialAugmentWide), clipped to
                                   // (wide noise), or out of reach (bin 9 and std 0.5)
  }
}

TEST_CASE("auto augment: RandAugment's noisy bins are normal around the magnitude", "[augment]") {
  // RandAugment's Rotate spans 0..30 degrees over bins 0..30: its magnitude is the bin itself.
  Augment augment = rand_policy(2.0);
  augment.rand_augment.magnitude = 15;
  augment.rand_augment.num_ops = 1;
  double sum = 0;
  double squares = 0;
  int count = 0;
  for (std::uint64_t seed = 0; seed < 20000; ++seed) {
    SplitMix64 random(seed);
    const OperationDraw draw = draw_operations(augment, kDrawSide, kDrawSide, random).front();
    if (draw.operation != AugmentOperation::kRotate) continue;
    const double bin = std::abs(draw.magnitude);
    sum += bin;
    squares += bin * bin;
    ++count;
  }
  REQUIRE(count > 1000);
  const double mean = sum / count;
  CHECK(mean == Approx(15.0).margin(0.2));
  CHECK(std::sqrt(squares / count - mean * mean) == Approx(2.0).margin(0.15));
}

TEST_CASE("auto augment: magnitudes at each bin follow torchvision's tables", "[augment]") {
  // torchvision: 8 - (arange(31) / ((31 - 1) / 6)).round() and ... / 4, printed by Python.
  const std::vector<int> trivial_bits = {8, 8, 8, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 5, 5, 5,
                                         5, 5, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 2, 2, 2};
  const std::vector<int> rand_bits = {8, 8, 8, 8, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6,
                                      6, 6, 6, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4};
  for (int bin = 0; bin < kMagnitudeBins; ++bin) {
    INFO("bin " << bin);
    const auto at = [bin](AutoAugmentPolicy policy, AugmentOperation operation) {
      return operation_magnitude(policy, operation, bin, 331, 100);
    };
    CHECK(at(AutoAugmentPolicy::kTrivialWide, AugmentOperation::kPosterize) ==
          trivial_bits[static_cast<std::size_t>(bin)]);
    CHECK(at(AutoAugmentPolicy::kRand, AugmentOperation::kPosterize) ==
          rand_bits[static_cast<std::size_t>(bin)]);
    CHECK(at(AutoAugmentPolicy::kTrivialWide, AugmentOperation::kRotate) ==
          Approx(135.0 * bin / 30));
    CHECK(at(AutoAugmentPolicy::kRand, AugmentOperation::kTranslateX) == Approx(5.0 * bin));
    CHECK(at(AutoAugmentPolicy::kRand, AugmentOperation::kTranslateY) ==
          Approx(150.0 / 331.0 * 100 * bin / 30));
    CHECK(at(AutoAugmentPolicy::kRand, AugmentOperation::kSolarize) == Approx(255.0 - 8.5 * bin));
  }
  CHECK(operation_magnitude(AutoAugmentPolicy::kTrivialWide, AugmentOperation::kTranslateX, 30, 10,
                            10) == 32.0);  // pixels, whatever the size
  CHECK(operation_magnitude(AutoAugmentPolicy::kRand, AugmentOperation::kEqualize, 30, 10, 10) ==
        0.0);
  CHECK(operation_magnitude(AutoAugmentPolicy::kNone, AugmentOperation::kRotate, 30, 10, 10) ==
        0.0);
}

TEST_CASE("auto augment: operations keep whole levels and the caller's dtype", "[augment]") {
  const Image image = seeded_image(11, 9, 5);
  const torch::Tensor levels = pixels_view(image).to(torch::kFloat32);
  for (std::int64_t index = 0; index < kAugmentOperationCount; ++index) {
    const auto operation = static_cast<AugmentOperation>(index);
    const double strength =
        operation_magnitude(AutoAugmentPolicy::kTrivialWide, operation, 17, 11, 9);
    const bool unsigned_operation =
        operation == AugmentOperation::kPosterize || operation == AugmentOperation::kSolarize;
    const double magnitude = unsigned_operation ? strength : -strength;
    INFO(to_string(operation) << " " << magnitude);
    torch::Tensor floats = levels.clone();
    apply_operation(floats, operation, magnitude);
    CHECK(floats.scalar_type() == torch::kFloat32);
    CHECK(floats.sizes() == levels.sizes());
    CHECK(whole_levels(floats));
    torch::Tensor bytes = levels.to(torch::kUInt8);
    apply_operation(bytes, operation, magnitude);
    CHECK(bytes.scalar_type() == torch::kUInt8);
    CHECK(torch::equal(bytes.to(torch::kFloat32), floats));
  }
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    SplitMix64 stream(seed);
    torch::Tensor pixels = levels.clone();
    apply_auto_augment(pixels, seed % 2 == 0 ? trivial_policy() : rand_policy(0.5), stream);
    CHECK(whole_levels(pixels));
  }
}

TEST_CASE("auto augment: operations do what torchvision's do on simple levels", "[augment]") {
  const torch::Tensor levels =
      torch::tensor({0.0F, 100.0F, 128.0F, 255.0F}).reshape({1, 2, 2}).repeat({3, 1, 1});
  const auto applied = [&levels](AugmentOperation operation, double magnitude) {
    torch::Tensor pixels = levels.clone();
    apply_operation(pixels, operation, magnitude);
    return pixels[0].flatten();
  };
  const auto expect = [](std::vector<float> values) { return torch::tensor(values); };
  CHECK(torch::equal(applied(AugmentOperation::kIdentity, 0), expect({0, 100, 128, 255})));
  CHECK(torch::equal(applied(AugmentOperation::kPosterize, 4), expect({0, 96, 128, 240})));
  CHECK(torch::equal(applied(AugmentOperation::kPosterize, 4.9), expect({0, 96, 128, 240})));
  CHECK(torch::equal(applied(AugmentOperation::kSolarize, 128), expect({0, 100, 127, 0})));
  CHECK(torch::equal(applied(AugmentOperation::kBrightness, -0.5), expect({0, 50, 64, 127})));
  CHECK(torch::equal(applied(AugmentOperation::kBrightness, 0.99), expect({0, 199, 254, 255})));
  // Translated by int(magnitude) pixels; the uncovered column is filled with zeros.
  CHECK(torch::equal(applied(AugmentOperation::kTranslateX, 1.9), expect({0, 0, 0, 128})));
  CHECK(torch::equal(applied(AugmentOperation::kTranslateX, -1), expect({100, 0, 255, 0})));
  REQUIRE_THROWS_WITH(applied(AugmentOperation::kPosterize, 9),
                      "posterize keeps 0 to 8 bits, got 9");

  // Each channel stretched to 0..255: (level - 50) x 255 / 150, truncated.
  torch::Tensor narrow =
      torch::tensor({50.0F, 100.0F, 128.0F, 200.0F}).reshape({1, 2, 2}).repeat({3, 1, 1});
  apply_operation(narrow, AugmentOperation::kAutoContrast, 0);
  CHECK(torch::equal(narrow[0].flatten(), expect({0, 85, 132, 255})));
}

TEST_CASE("auto augment: augment_into under policy none is the recipe without it", "[augment]") {
  // The steps of augment_into rebuilt from the public functions; random erasing comes last in
  // the stream, so it would move if the policy step drew anything under none.
  Augment augment;
  augment.enabled = true;
  augment.erasing.p = 1.0;
  augment.rand_augment.num_ops = 4;  // not used by policy none
  const Image base = seeded_image(40, 40, 1);
  const Preprocess preprocess = testing::identity_statistics(24);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    SplitMix64 random(seed);
    const CropBox box = random_resized_crop_box(base.width, base.height, augment, random);
    const bool flip = random.uniform() < 0.5;
    torch::Tensor pixels = resize_levels(
        pixels_view(base).narrow(1, box.top, box.height).narrow(2, box.left, box.width), 24, 24);
    if (flip) pixels = pixels.flip({2});
    torch::Tensor expected = torch::empty({3, 24, 24});
    normalise_into(pixels, preprocess, expected);
    erase_randomly(expected, augment.erasing, random);

    torch::Tensor out = torch::empty({3, 24, 24});
    augment_into(base, preprocess, augment, seed, out);
    CHECK(torch::equal(out, expected));
  }
}

TEST_CASE("auto augment: augment_into applies the policy, the same for the same seed",
          "[augment]") {
  const Image base = seeded_image(40, 40, 2);
  const Preprocess preprocess = testing::identity_statistics(24);
  Augment none;
  none.enabled = true;
  for (const Augment& augment : {trivial_policy(), rand_policy(0.5)}) {
    int changed = 0;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
      torch::Tensor first = torch::empty({3, 24, 24});
      torch::Tensor again = torch::empty({3, 24, 24});
      torch::Tensor without = torch::empty({3, 24, 24});
      augment_into(base, preprocess, augment, seed, first);
      augment_into(base, preprocess, augment, seed, again);
      augment_into(base, preprocess, none, seed, without);
      CHECK(torch::equal(first, again));
      // No jitter, mean 0 and std 1: the input is the policy's whole levels over 255.
      CHECK(first.min().item<float>() >= 0.0F);
      CHECK(first.max().item<float>() <= 1.0F);
      CHECK(torch::allclose(first.mul(255), first.mul(255).round(), /*rtol=*/0, /*atol=*/1e-3));
      if (!torch::equal(first, without)) ++changed;
    }
    CHECK(changed >= 10);  // Identity, and ops that miss this image, leave some unchanged
  }
}

}  // namespace
}  // namespace ftl
