// The auto-augment operations against torchvision: tests/python/tv_augment.py applies
// autoaugment._apply_op (interpolation NEAREST, fill None) to the same uint8 pixels, and ftl's
// apply_operation must give the same levels, and operation_magnitude the magnitudes of
// torchvision's _augmentation_space.
//
// Every operation is required to match exactly, none within a level: ftl runs the same
// LibTorch kernels as Python's torch, on the same float32 values. The geometric operations
// sample with NEAREST, which copies levels and interpolates none, and their sampling grid is
// built in float32 as torchvision's _gen_affine_grid builds it, so that even the pixels that
// fall on a half-pixel tie (Rotate 90 on an odd x even image, shears at the corner) round to
// the same neighbour; the colour operations truncate the same float32 blends to uint8. (A
// LibTorch other than the Python torch's might round a blend or a grid tie the other way.)
#include "ftl/image/auto_augment.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/fixtures.h"
#include "support/temp_dir.h"

using ftl::AugmentOperation;
using ftl::testing::TempDir;

namespace {

/// One operation at one magnitude, as _apply_op takes it.
struct OperationCase {
  AugmentOperation operation;
  double magnitude;
};

/// The magnitudes tried: both signs of the signed operations, both policies' ranges, values
/// that Python's int() truncates, and angles and shears that land samples on half-pixel ties.
std::vector<OperationCase> operation_cases() {
  std::vector<OperationCase> all;
  const auto add = [&all](AugmentOperation operation, const std::vector<double>& magnitudes) {
    for (double magnitude : magnitudes) all.push_back({operation, magnitude});
  };
  add(AugmentOperation::kIdentity, {0});
  for (auto shear : {AugmentOperation::kShearX, AugmentOperation::kShearY}) {
    add(shear, {0.033, 0.3, -0.3, 0.5, 0.99, -0.99});
  }
  for (auto translate : {AugmentOperation::kTranslateX, AugmentOperation::kTranslateY}) {
    add(translate, {1.9, 5, -5, -7.9, 16, -32, 40});
  }
  add(AugmentOperation::kRotate, {4.5, 30, -30, 90, -90, 135, -135});
  for (auto colour : {AugmentOperation::kBrightness, AugmentOperation::kColor,
                      AugmentOperation::kContrast, AugmentOperation::kSharpness}) {
    add(colour, {0.033, 0.3, -0.3, -0.5, 0.9, 0.99, -0.99});
  }
  add(AugmentOperation::kPosterize, {8, 7, 4, 4.9, 2});
  add(AugmentOperation::kSolarize, {255, 246.5, 127.5, 100, 0});
  add(AugmentOperation::kAutoContrast, {0});
  add(AugmentOperation::kEqualize, {0});
  return all;
}

/// A magnitude as text that Python's float() reads back to the same double.
std::string exact_text(double value) {
  std::ostringstream text;
  text.precision(17);
  text << value;
  return text.str();
}

/// Raw uint8 RGB pixels (HWC) of a width x height image: seeded noise, or noise in a narrow
/// band of levels, where AutoContrast and Equalize have something to stretch.
std::string noise_pixels(int width, int height, int low, int high) {
  std::mt19937 random(static_cast<unsigned>(width * 1000 + height));
  std::uniform_int_distribution<int> level(low, high);
  std::string pixels(static_cast<std::size_t>(width * height * 3), '\0');
  for (char& value : pixels) value = static_cast<char>(level(random));
  return pixels;
}

/// Runs tests/python/tv_augment.py on the pixels for every case, returning its results one after
/// another.
std::string torchvision_results(const TempDir& dir, const std::string& pixels, int width,
                                int height, const std::vector<OperationCase>& all) {
  const std::filesystem::path input = dir / "input.rgb";
  const std::filesystem::path output = dir / "output.rgb";
  std::ofstream(input, std::ios::binary) << pixels;
  std::string arguments;
  for (const OperationCase& one : all) {
    arguments += std::string(" ") + to_string(one.operation) + " " + exact_text(one.magnitude);
  }
  const auto python = ftl::testing::run_command(
      ftl::testing::kPython + " " + ftl::testing::kSourceDir +
      "/tests/python/tv_augment.py apply " + input.string() + " " + std::to_string(width) + " " +
      std::to_string(height) + " " + output.string() + arguments + " 2>&1");
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  return ftl::testing::read_file(output);
}

/// ftl's result for one case, as uint8 HWC levels like the script's.
torch::Tensor ftl_result(const std::string& pixels, int width, int height,
                         const OperationCase& one) {
  torch::Tensor levels =
      torch::from_blob(const_cast<char*>(pixels.data()), {height, width, 3}, torch::kUInt8)
          .permute({2, 0, 1})
          .to(torch::kFloat32);  // float whole levels, as augment_into holds them
  ftl::apply_operation(levels, one.operation, one.magnitude);
  return levels.to(torch::kUInt8).permute({1, 2, 0}).contiguous();
}

void check_against_torchvision(int width, int height, int low, int high) {
  TempDir dir;
  const std::vector<OperationCase> all = operation_cases();
  const std::string pixels = noise_pixels(width, height, low, high);
  const std::string theirs = torchvision_results(dir, pixels, width, height, all);
  const auto size = static_cast<std::int64_t>(pixels.size());
  REQUIRE(theirs.size() == pixels.size() * all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    INFO(width << "x" << height << " " << to_string(all[i].operation) << " " << all[i].magnitude);
    const torch::Tensor expected =
        torch::from_blob(const_cast<char*>(theirs.data()) + static_cast<std::int64_t>(i) * size,
                         {height, width, 3}, torch::kUInt8);
    const torch::Tensor difference =
        (ftl_result(pixels, width, height, all[i]).to(torch::kInt32) - expected.to(torch::kInt32))
            .abs();
    INFO("largest difference " << difference.max().item<int>() << " at "
                               << difference.gt(0).sum().item<std::int64_t>() << " values");
    CHECK(difference.max().item<int>() == 0);
  }
}

/// A policy on an image size, as tv_augment.py space takes them.
struct PolicySpace {
  ftl::AutoAugmentPolicy policy;
  int width;
  int height;
};

/// One magnitude of torchvision's _augmentation_space.
struct Magnitude {
  std::string policy;
  int width = 0;
  int height = 0;
  std::string operation;
  int bin = 0;
  double value = 0;
};

/// torchvision's magnitudes of every operation with a range at every bin, for each space.
std::vector<Magnitude> torchvision_magnitudes(const std::vector<PolicySpace>& spaces) {
  std::string arguments;
  for (const PolicySpace& space : spaces) {
    arguments += std::string(" ") + to_string(space.policy) + " " + std::to_string(space.width) +
                 " " + std::to_string(space.height);
  }
  const auto python =
      ftl::testing::run_command(ftl::testing::kPython + " " + ftl::testing::kSourceDir +
                                "/tests/python/tv_augment.py space" + arguments);
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  std::vector<Magnitude> magnitudes;
  std::istringstream lines(python.output);
  Magnitude one;
  while (lines >> one.policy >> one.width >> one.height >> one.operation >> one.bin >> one.value) {
    magnitudes.push_back(one);
  }
  return magnitudes;
}

AugmentOperation operation_named(const std::string& name) {
  for (std::int64_t index = 0; index < ftl::kAugmentOperationCount; ++index) {
    const auto operation = static_cast<AugmentOperation>(index);
    if (name == to_string(operation)) return operation;
  }
  FAIL("no operation is named " << name);
  return AugmentOperation::kIdentity;
}

}  // namespace

TEST_CASE("auto augment: every operation matches torchvision's on a non-square image",
          "[augment][python]") {
  check_against_torchvision(37, 23, 0, 255);
}

TEST_CASE("auto augment: every operation matches torchvision's on narrow-band levels",
          "[augment][python]") {
  check_against_torchvision(23, 37, 60, 180);  // portrait; AutoContrast has a range to stretch
}

TEST_CASE("auto augment: every operation matches torchvision's on a 2 x 3 image",
          "[augment][python]") {
  check_against_torchvision(2, 3, 0, 255);  // Sharpness leaves an image 2 pixels wide as it is
}

TEST_CASE("auto augment: magnitudes at each bin are torchvision's", "[augment][python]") {
  // TrivialAugmentWide's ranges do not depend on the size; RandAugment's translations do.
  const std::vector<PolicySpace> spaces = {{ftl::AutoAugmentPolicy::kTrivialWide, 37, 23},
                                           {ftl::AutoAugmentPolicy::kRand, 37, 23},
                                           {ftl::AutoAugmentPolicy::kRand, 224, 224}};
  const std::vector<Magnitude> magnitudes = torchvision_magnitudes(spaces);
  // Every operation but Identity, AutoContrast and Equalize has a range.
  REQUIRE(magnitudes.size() == spaces.size() * 11 * ftl::kMagnitudeBins);
  for (const Magnitude& theirs : magnitudes) {
    INFO(theirs.policy << " " << theirs.width << "x" << theirs.height << " " << theirs.operation
                       << " bin " << theirs.bin);
    const ftl::AutoAugmentPolicy policy = theirs.policy == "rand"
                                              ? ftl::AutoAugmentPolicy::kRand
                                              : ftl::AutoAugmentPolicy::kTrivialWide;
    const double ours = ftl::operation_magnitude(policy, operation_named(theirs.operation),
                                                 theirs.bin, theirs.width, theirs.height);
    // torchvision's linspace is float32, ours double: a few float steps apart at most.
    CHECK(ours == Approx(theirs.value).epsilon(1e-6).margin(1e-6));
    // What _apply_op truncates (translate's pixels, posterize's bits) is the same.
    CHECK(static_cast<std::int64_t>(ours) == static_cast<std::int64_t>(theirs.value));
  }
}
