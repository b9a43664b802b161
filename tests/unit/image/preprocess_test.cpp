// Preprocessing: the resize, the centre crop and the normalisation of an image into an input
// tensor, the decoding it asks for, and its metadata in checkpoints old and new (against
// torchvision itself: tests/e2e/preprocess_test.cpp).
#include "ftl/image/preprocess.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "ftl/image/image.h"
#include "ftl/util/errors.h"
#include "support/image_files.h"
#include "support/preprocess.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::identity_statistics;
using ftl::testing::TempDir;

TEST_CASE("preprocess: resize, scale to [0,1] and ImageNet normalisation", "[loader]") {
  ftl::Image image;
  image.width = 4;
  image.height = 2;
  image.pixels.assign(4 * 2 * 3, 0);
  for (std::size_t i = 0; i < image.pixels.size(); i += 3) {
    image.pixels[i] = 255;     // red channel full
    image.pixels[i + 1] = 51;  // green 0.2
  }
  ftl::Preprocess preprocess;
  preprocess.image_size = 3;
  torch::Tensor out = torch::zeros({3, 3, 3});
  ftl::preprocess_into(image, preprocess, out);
  // A flat image stays flat through any resize.
  CHECK(out[0].allclose(torch::full({3, 3}, (1.0F - 0.485F) / 0.229F), 1e-5, 1e-5));
  CHECK(out[1].allclose(torch::full({3, 3}, (0.2F - 0.456F) / 0.224F), 1e-5, 1e-5));
  CHECK(out[2].allclose(torch::full({3, 3}, (0.0F - 0.406F) / 0.225F), 1e-5, 1e-5));
}

TEST_CASE("preprocess: metadata round-trips and bad metadata is named", "[loader]") {
  ftl::Preprocess preprocess;
  preprocess.image_size = 32;
  const ftl::Preprocess again = ftl::preprocess_from_json(ftl::preprocess_to_json(preprocess));
  CHECK(again.image_size == 32);
  CHECK(again.mean == ftl::kImageNetMean);
  CHECK(again.std == ftl::kImageNetStd);
  nlohmann::json bad = ftl::preprocess_to_json(preprocess);
  bad["std"] = {0.2, 0.0, 0.2};
  REQUIRE_THROWS_WITH(ftl::preprocess_from_json(bad),
                      "preprocessing metadata: std values must be > 0");
  bad.erase("mean");
  REQUIRE_THROWS_WITH(ftl::preprocess_from_json(bad), Contains("mean"));
}

TEST_CASE("preprocess: the base image keeps the aspect ratio, truncating as torchvision",
          "[loader]") {
  ftl::Preprocess preprocess;  // 224 from a shorter side of 256
  CHECK(ftl::shorter_side(preprocess) == 256);
  CHECK(ftl::default_resize(32) == 37);
  ftl::Image landscape;
  landscape.width = 500;
  landscape.height = 375;
  landscape.pixels.assign(500 * 375 * 3, 7);
  const ftl::Image base = ftl::base_image(landscape, preprocess);
  CHECK(base.width == 341);  // int(256 * 500 / 375)
  CHECK(base.height == 256);
  ftl::Image portrait;
  portrait.width = 375;
  portrait.height = 500;
  portrait.pixels.assign(500 * 375 * 3, 7);
  CHECK(ftl::base_image(portrait, preprocess).width == 256);
  CHECK(ftl::base_image(portrait, preprocess).height == 341);
  preprocess.eval_resize = ftl::EvalResize::kStretch;
  CHECK(ftl::base_image(portrait, preprocess).width == 224);
  CHECK(ftl::base_image(portrait, preprocess).height == 224);

  ftl::Image sliver;  // 1 x 4000: its longer side would become 256 x 4000 pixels
  sliver.width = 1;
  sliver.height = 4000;
  sliver.pixels.assign(4000 * 3, 7);
  preprocess.eval_resize = ftl::EvalResize::kCenterCrop;
  REQUIRE_THROWS_AS(ftl::base_image(sliver, preprocess), ftl::DataError);
  REQUIRE_THROWS_WITH(ftl::base_image(sliver, preprocess), Contains("too elongated"));
}

TEST_CASE("preprocess: decoding needs only the base image's shorter side", "[loader]") {
  ftl::Preprocess preprocess;
  CHECK(ftl::decode_options(preprocess).min_side == 256);
  CHECK(ftl::decode_options(preprocess).exif_orientation);
  preprocess.eval_resize = ftl::EvalResize::kStretch;
  CHECK(ftl::decode_options(preprocess).min_side == 224);
  preprocess.jpeg_dct_scaling = false;
  CHECK(ftl::decode_options(preprocess).min_side == 0);
  preprocess.exif_orientation = false;
  CHECK_FALSE(ftl::decode_options(preprocess).exif_orientation);
}

TEST_CASE("preprocess: checkpoints from before the centre crop keep stretching", "[loader]") {
  const nlohmann::json old = {{"image_size", 32},
                              {"mean", ftl::kImageNetMean},
                              {"std", ftl::kImageNetStd},
                              {"resize", "bilinear-antialias"}};
  const ftl::Preprocess preprocess = ftl::preprocess_from_json(old);
  CHECK(preprocess.eval_resize == ftl::EvalResize::kStretch);
  CHECK_FALSE(preprocess.exif_orientation);
  CHECK_FALSE(preprocess.jpeg_dct_scaling);

  ftl::Preprocess current;
  current.image_size = 32;
  current.jpeg_dct_scaling = false;
  nlohmann::json json = ftl::preprocess_to_json(current);
  CHECK(json["resize_shorter_side"] == 37);  // stored resolved
  const ftl::Preprocess again = ftl::preprocess_from_json(json);
  CHECK(again.eval_resize == ftl::EvalResize::kCenterCrop);
  CHECK(again.resize == 37);
  CHECK(again.exif_orientation);
  CHECK_FALSE(again.jpeg_dct_scaling);
  json["eval_resize"] = "squash";
  REQUIRE_THROWS_WITH(ftl::preprocess_from_json(json),
                      Contains("eval_resize") && Contains("squash"));
  json["eval_resize"] = "center_crop";
  json["resize_shorter_side"] = 20;
  REQUIRE_THROWS_WITH(ftl::preprocess_from_json(json),
                      Contains("resize_shorter_side must be >= image_size (32), got 20"));
}

TEST_CASE("preprocess: a JPEG decoded at reduced DCT scale gives nearly the full decode's input",
          "[loader][dct]") {
  TempDir dir;
  // A smooth photo-like field, 8 times the 112-pixel crop's needs: decoded at 1/4 scale.
  constexpr int kWidth = 1024;
  constexpr int kHeight = 768;
  std::vector<std::uint8_t> pixels;
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      pixels.push_back(static_cast<std::uint8_t>(128 + 100 * std::sin(x / 40.0)));
      pixels.push_back(static_cast<std::uint8_t>(128 + 100 * std::cos(y / 30.0)));
      pixels.push_back(static_cast<std::uint8_t>((x + y) % 256 / 2 + 60));
    }
  }
  const auto file = dir / "photo.jpg";
  ftl::testing::write_jpeg(file, kWidth, kHeight, 3, 90, pixels);
  ftl::Preprocess scaled = identity_statistics(112);  // shorter side 128 before the crop
  ftl::Preprocess full = scaled;
  full.jpeg_dct_scaling = false;
  CHECK(ftl::read_image(file, ftl::decode_options(scaled)).width == kWidth / 4);
  torch::Tensor from_scaled = torch::empty({3, 112, 112});
  torch::Tensor from_full = torch::empty({3, 112, 112});
  ftl::preprocess_into(ftl::read_image(file, ftl::decode_options(scaled)), scaled, from_scaled);
  ftl::preprocess_into(ftl::read_image(file, ftl::decode_options(full)), full, from_full);
  const torch::Tensor levels = (from_scaled - from_full).abs().mul(255);
  CHECK(levels.mean().item<double>() < 1.0);  // measured: 0.29 levels on average, 4 at most
  CHECK(levels.max().item<double>() < 8.0);
}
