// Preprocessing against torchvision: tests/python/pil_resize.py resizes and crops the same
// pixels, and ftl's input must be within one level of its output.
#include "ftl/image/preprocess.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <string>

#include "ftl/image/image.h"
#include "support/fixtures.h"
#include "support/image_files.h"
#include "support/preprocess.h"
#include "support/temp_dir.h"

using ftl::testing::identity_statistics;
using ftl::testing::TempDir;

namespace {

/// Runs tests/python/pil_resize.py on an image file and returns the raw RGB bytes it wrote.
std::string torchvision_resized(const std::filesystem::path& image, const std::string& arguments,
                                const std::filesystem::path& output) {
  const auto python = ftl::testing::run_command(
      ftl::testing::kPython + " " + ftl::testing::kSourceDir + "/tests/python/pil_resize.py " +
      image.string() + " " + output.string() + " " + arguments + " 2>&1");
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  return ftl::testing::read_file(output);
}

/// A width x height image of seeded random levels, and the same pixels as a PNG file.
ftl::Image noise_png(const std::filesystem::path& png, int width, int height) {
  std::mt19937 random(11);
  std::uniform_int_distribution<int> level(0, 255);
  ftl::Image image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<std::size_t>(width * height * 3));
  for (auto& value : image.pixels) value = static_cast<std::uint8_t>(level(random));
  ftl::testing::write_png(png, width, height, 3,
                          std::vector<std::uint16_t>(image.pixels.begin(), image.pixels.end()));
  return image;
}

/// The largest difference between our [0, 1] input tensor and torchvision's 8-bit output.
int largest_difference(const torch::Tensor& ours, const std::string& theirs, std::int64_t side) {
  REQUIRE(theirs.size() == static_cast<std::size_t>(side * side * 3));
  const torch::Tensor levels = ours.permute({1, 2, 0}).mul(255).round().to(torch::kInt32);
  const torch::Tensor expected =
      torch::from_blob(const_cast<char*>(theirs.data()), {side, side, 3}, torch::kUInt8)
          .to(torch::kInt32);
  return (levels - expected).abs().max().item<int>();
}

}  // namespace

TEST_CASE("preprocess: stretching matches torchvision's Resize((S, S)) within one level",
          "[loader][python]") {
  TempDir dir;
  const ftl::Image image = noise_png(dir / "noise.png", 20, 20);
  for (int side : {32, 12}) {  // upsampling and antialiased downsampling
    INFO("side " << side);
    const std::string theirs = torchvision_resized(
        dir / "noise.png", "stretch " + std::to_string(side), dir / "stretched.rgb");
    ftl::Preprocess preprocess = identity_statistics(side);
    preprocess.eval_resize = ftl::EvalResize::kStretch;
    torch::Tensor out = torch::empty({3, side, side});
    ftl::preprocess_into(image, preprocess, out);
    CHECK(largest_difference(out, theirs, side) <= 1);
  }
}

TEST_CASE("preprocess: resize + centre crop matches torchvision's Resize(R) + CenterCrop(S)",
          "[loader][python]") {
  TempDir dir;
  // Landscape and portrait, odd margins (the crop offset rounds half to even, as Python's round).
  for (const auto& [width, height] : {std::pair{37, 23}, std::pair{23, 41}, std::pair{50, 30}}) {
    const ftl::Image image = noise_png(dir / "noise.png", width, height);
    for (const auto& [resize, crop] : {std::pair{20, 16}, std::pair{17, 17}, std::pair{40, 31}}) {
      INFO(width << "x" << height << " resize " << resize << " crop " << crop);
      const std::string theirs = torchvision_resized(
          dir / "noise.png", "center_crop " + std::to_string(resize) + " " + std::to_string(crop),
          dir / "cropped.rgb");
      ftl::Preprocess preprocess = identity_statistics(crop);
      preprocess.resize = resize;
      torch::Tensor out = torch::empty({3, crop, crop});
      ftl::preprocess_into(image, preprocess, out);
      CHECK(largest_difference(out, theirs, crop) <= 1);
    }
  }
}
