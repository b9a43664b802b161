#include "ftl/image/thumbnail.h"

#include <catch2/catch.hpp>

#include "ftl/image/preprocess.h"

namespace {

ftl::Image noise_image(int side, std::uint32_t seed) {
  ftl::Image image{side, side, {}};
  std::uint32_t state = seed;
  for (int i = 0; i < side * side * 3; ++i) {
    state = state * 1664525U + 1013904223U;  // a linear congruential sequence
    image.pixels.push_back(static_cast<std::uint8_t>(state >> 24));
  }
  return image;
}

}  // namespace

TEST_CASE("thumbnail: the input view undoes normalisation to the very levels", "[thumbnail]") {
  ftl::Preprocess preprocess;
  preprocess.image_size = 16;
  preprocess.eval_resize = ftl::EvalResize::kStretch;  // a 16x16 image is the input as it is
  const ftl::Image image = noise_image(16, 7);
  const torch::Tensor input = torch::empty({3, 16, 16});
  ftl::preprocess_into(image, preprocess, input);
  const ftl::Image view = ftl::input_view(input, preprocess);
  CHECK(view.width == 16);
  CHECK(view.height == 16);
  CHECK(view.pixels == image.pixels);
  CHECK_THROWS_AS(ftl::input_view(torch::zeros({16, 16}), preprocess), std::invalid_argument);
}

TEST_CASE("thumbnail: a small input grows in sharp blocks, a large one shrinks by area",
          "[thumbnail]") {
  const ftl::Image small = noise_image(32, 3);
  const ftl::Image grown = ftl::thumbnail(small);
  REQUIRE(grown.width == ftl::kThumbnailSide);
  REQUIRE(grown.height == ftl::kThumbnailSide);
  // 32 -> 96: each input pixel is a 3 x 3 block of the same colour.
  for (int y = 0; y < 96; ++y) {
    for (int x = 0; x < 96; ++x) {
      for (int c = 0; c < 3; ++c) {
        const std::size_t at = static_cast<std::size_t>((y * 96 + x) * 3 + c);
        const std::size_t from = static_cast<std::size_t>(((y / 3) * 32 + x / 3) * 3 + c);
        REQUIRE(grown.pixels[at] == small.pixels[from]);
      }
    }
  }
  // 192 -> 96: each output pixel is the mean of a 2 x 2 block.
  const ftl::Image large = noise_image(192, 5);
  const ftl::Image shrunk = ftl::thumbnail(large);
  CHECK(shrunk.width == 96);
  const auto level = [&large](int x, int y) {
    return int{large.pixels[static_cast<std::size_t>((y * 192 + x) * 3)]};
  };
  const double mean = (level(0, 0) + level(1, 0) + level(0, 1) + level(1, 1)) / 4.0;
  CHECK(std::abs(shrunk.pixels[0] - mean) <= 0.5);
  // A wide image keeps its aspect.
  const ftl::Image wide{64, 16, std::vector<std::uint8_t>(64 * 16 * 3, 9)};
  const ftl::Image wide_thumbnail = ftl::thumbnail(wide);
  CHECK(wide_thumbnail.width == 96);
  CHECK(wide_thumbnail.height == 24);
}
