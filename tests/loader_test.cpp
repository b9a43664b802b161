#include "ftl/data/loader.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "ftl/data/dataset.h"
#include "ftl/image/preprocess.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/image_files.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::TempDir;

namespace {

// Loader options for the 8x8 test images: batches of two, `workers` threads.
ftl::LoaderOptions pairs_of_8px(std::int64_t workers, std::int64_t prefetch = 0) {
  ftl::LoaderOptions options;
  options.batch_size = 2;
  options.preprocess.image_size = 8;
  options.workers = workers;
  options.prefetch = prefetch;
  return options;
}

}  // namespace

TEST_CASE("loader: an epoch's order depends only on seed and epoch", "[loader]") {
  const auto a = ftl::epoch_order(100, 7, 3);
  CHECK(a == ftl::epoch_order(100, 7, 3));
  CHECK(a != ftl::epoch_order(100, 7, 4));
  CHECK(a != ftl::epoch_order(100, 8, 3));
  CHECK(std::set<std::size_t>(a.begin(), a.end()).size() == 100);
}

TEST_CASE("loader: batches come in order, whatever the number of workers", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 7, 12, 3);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  const auto order = ftl::epoch_order(data.samples.size(), 1, 1);
  auto collect = [&](std::int64_t workers) {
    ftl::LoaderOptions options;
    options.batch_size = 4;
    options.preprocess.image_size = 8;
    options.workers = workers;
    ftl::BatchLoader loader(data.samples, order, options);
    CHECK(loader.num_batches() == 6);  // 21 images in batches of 4
    std::vector<torch::Tensor> images;
    std::vector<std::size_t> indices;
    ftl::Batch batch;
    while (loader.next(batch)) {
      images.push_back(batch.images);
      indices.insert(indices.end(), batch.indices.begin(), batch.indices.end());
      CHECK(batch.images.sizes() == torch::IntArrayRef({batch.labels.size(0), 3, 8, 8}));
    }
    CHECK(indices == order);
    return torch::cat(images);
  };
  const torch::Tensor one = collect(1);
  const torch::Tensor four = collect(4);
  CHECK(one.size(0) == 21);
  CHECK(torch::equal(one, four));
}

TEST_CASE("loader: labels follow the samples", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 3, 8, 5);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  ftl::LoaderOptions options;
  options.batch_size = 100;
  options.preprocess.image_size = 8;
  ftl::BatchLoader loader(data.samples, ftl::identity_order(data.samples.size()), options);
  ftl::Batch batch;
  REQUIRE(loader.next(batch));
  const std::vector<std::int64_t> expected = {0, 0, 0, 1, 1, 1, 2, 2, 2};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(batch.labels[static_cast<std::int64_t>(i)].item<std::int64_t>() == expected[i]);
  }
  CHECK_FALSE(loader.next(batch));
}

TEST_CASE("loader: the first corrupt image in visiting order is reported, by name", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 6, 8, 5);
  const auto first = dir / "circle/bad.png";  // sorts after circle/0..5, before square/
  const auto second = dir / "triangle/bad.png";
  for (const auto& path : {first, second}) std::ofstream(path) << "\x89PNG\r\n\x1a\n garbage";
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  for (std::int64_t workers : {1, 4}) {
    const ftl::LoaderOptions options = pairs_of_8px(workers);
    ftl::BatchLoader parallel(data.samples, ftl::identity_order(data.samples.size()), options);
    ftl::Batch batch;
    std::size_t delivered = 0;
    try {
      while (parallel.next(batch)) ++delivered;
      FAIL("no error");
    } catch (const ftl::DataError& error) {
      CHECK_THAT(error.what(), Contains(first.string()));
    }
    CHECK(delivered == 3);  // the batches before the bad one still arrive, in order
  }
}

TEST_CASE("loader: an image deleted after the scan is named, or left out with skip",
          "[loader][fault]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 3, 8, 5);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  const std::filesystem::path gone = dir / "square/1.png";
  std::size_t gone_index = data.samples.size();
  for (std::size_t i = 0; i < data.samples.size(); ++i) {
    if (data.samples[i].path == gone) gone_index = i;
  }
  REQUIRE(gone_index < data.samples.size());
  std::filesystem::remove(gone);  // mid-run: after the scan listed it, before it is read

  ftl::LoaderOptions options = pairs_of_8px(/*workers=*/2);
  ftl::Batch batch;
  {
    ftl::BatchLoader loader(data.samples, ftl::identity_order(data.samples.size()), options);
    REQUIRE_THROWS_WITH(
        [&] {
          while (loader.next(batch)) {
          }
        }(),
        Contains(gone.string()));
  }
  options.skip_bad_images = true;
  ftl::BatchLoader loader(data.samples, ftl::identity_order(data.samples.size()), options);
  std::int64_t images = 0;
  std::vector<ftl::BadImage> bad;
  while (loader.next(batch)) {
    images += batch.images.size(0);
    bad.insert(bad.end(), batch.bad.begin(), batch.bad.end());
  }
  CHECK(images == static_cast<std::int64_t>(data.samples.size()) - 1);
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].index == gone_index);
}
TEST_CASE("loader: decoding runs ahead of training by at most `prefetch` batches", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 10, 8, 5);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  const ftl::LoaderOptions options = pairs_of_8px(/*workers=*/3, /*prefetch=*/2);
  ftl::BatchLoader loader(data.samples, ftl::identity_order(data.samples.size()), options);
  // A slow consumer: the workers fill the queue while it sleeps, and must stop at 2.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ftl::Batch batch;
  std::size_t batches = 0;
  while (loader.next(batch)) {
    ++batches;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(batches == 15);
  CHECK(loader.peak_in_flight() == 2);
}

TEST_CASE("loader: destroying a loader mid-epoch stops its blocked workers", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 10, 8, 5);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  const ftl::LoaderOptions options = pairs_of_8px(/*workers=*/3, /*prefetch=*/1);
  {
    ftl::BatchLoader loader(data.samples, ftl::identity_order(data.samples.size()), options);
    ftl::Batch batch;
    REQUIRE(loader.next(batch));
  }  // returns only if every worker was woken and joined
  SUCCEED();
}

TEST_CASE("loader: batch size and workers below 1 are refused", "[loader]") {
  const std::vector<ftl::Sample> none;
  ftl::LoaderOptions options;
  options.workers = 0;
  REQUIRE_THROWS_AS(ftl::BatchLoader(none, {}, options), std::invalid_argument);
  options.workers = 1;
  options.batch_size = 0;
  REQUIRE_THROWS_WITH(ftl::BatchLoader(none, {}, options),
                      "BatchLoader needs batch_size >= 1 and workers >= 1, got 0 and 1");
}

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

ftl::Preprocess identity_statistics(std::int64_t side) {
  ftl::Preprocess preprocess;  // mean 0 and std 1 keep the [0, 1] scale
  preprocess.image_size = side;
  preprocess.mean = {0, 0, 0};
  preprocess.std = {1, 1, 1};
  return preprocess;
}

TEST_CASE("preprocess: stretching matches torchvision's Resize((S, S)) within one level",
          "[loader][python]") {
  TempDir dir;
  const ftl::Image image = noise_png(dir / "noise.png", 20, 20);
  for (int side : {32, 12}) {  // upsampling and antialiased downsampling
    INFO("side " << side);
    const std::string theirs = torchvision_resized(
        dir / "noise.png", "stretch " + std::to_string(side), dir / "stretched.rgb");
    ftl::Preprocess preprocess = identity_statistics(side);
    preprocess.eval_resize = ftl::kStretch;
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
  preprocess.eval_resize = ftl::kStretch;
  CHECK(ftl::base_image(portrait, preprocess).width == 224);
  CHECK(ftl::base_image(portrait, preprocess).height == 224);

  ftl::Image sliver;  // 1 x 4000: its longer side would become 256 x 4000 pixels
  sliver.width = 1;
  sliver.height = 4000;
  sliver.pixels.assign(4000 * 3, 7);
  preprocess.eval_resize = ftl::kCenterCrop;
  REQUIRE_THROWS_AS(ftl::base_image(sliver, preprocess), ftl::DataError);
  REQUIRE_THROWS_WITH(ftl::base_image(sliver, preprocess), Contains("too elongated"));
}

TEST_CASE("preprocess: decoding needs only the base image's shorter side", "[loader]") {
  ftl::Preprocess preprocess;
  CHECK(ftl::decode_options(preprocess).min_side == 256);
  CHECK(ftl::decode_options(preprocess).exif_orientation);
  preprocess.eval_resize = ftl::kStretch;
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
  CHECK(preprocess.eval_resize == ftl::kStretch);
  CHECK_FALSE(preprocess.exif_orientation);
  CHECK_FALSE(preprocess.jpeg_dct_scaling);

  ftl::Preprocess current;
  current.image_size = 32;
  current.jpeg_dct_scaling = false;
  nlohmann::json json = ftl::preprocess_to_json(current);
  CHECK(json["resize_shorter_side"] == 37);  // stored resolved
  const ftl::Preprocess again = ftl::preprocess_from_json(json);
  CHECK(again.eval_resize == ftl::kCenterCrop);
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

namespace {

/// Every batch's images of one pass over `samples` in the given order.
std::vector<torch::Tensor> one_pass(const std::vector<ftl::Sample>& samples,
                                    const std::vector<std::size_t>& order,
                                    const ftl::LoaderOptions& options) {
  ftl::BatchLoader loader(samples, order, options);
  std::vector<torch::Tensor> images;
  ftl::Batch batch;
  while (loader.next(batch)) images.push_back(batch.images);
  return images;
}

bool same_batches(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("loader: augmented batches are the same whatever the number of workers", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 5, 16, 3);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  const auto order = ftl::epoch_order(data.samples.size(), 3, 1);
  ftl::LoaderOptions options;
  options.batch_size = 4;
  options.preprocess.image_size = 12;
  options.augment.enabled = true;
  options.augment.color_jitter = 0.3;
  options.seed = 3;
  options.epoch = 1;
  options.workers = 1;
  const auto one_worker = one_pass(data.samples, order, options);
  options.workers = 3;
  CHECK(same_batches(one_worker, one_pass(data.samples, order, options)));
  options.epoch = 2;  // another epoch, other crops
  CHECK_FALSE(same_batches(one_worker, one_pass(data.samples, order, options)));
  options.epoch = 1;
  options.augment.enabled = false;  // and augmentation does change the images
  CHECK_FALSE(same_batches(one_worker, one_pass(data.samples, order, options)));
}

TEST_CASE("loader: the memory cache decodes each image once and changes nothing", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 6, 16, 2);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  const std::size_t n = data.samples.size();
  const auto order = ftl::epoch_order(n, 5, 1);
  ftl::LoaderOptions options;
  options.batch_size = 5;
  options.preprocess.image_size = 12;
  options.workers = 2;
  for (bool augment : {false, true}) {
    INFO("augment " << augment);
    options.augment.enabled = augment;
    options.cache = nullptr;
    const auto uncached = one_pass(data.samples, order, options);
    ftl::ImageCache cache(std::uint64_t{1} << 30);
    options.cache = &cache;
    CHECK(same_batches(uncached, one_pass(data.samples, order, options)));  // fills the cache
    CHECK(cache.stats().misses == n);
    CHECK(cache.stats().images == n);
    CHECK(same_batches(uncached, one_pass(data.samples, order, options)));  // from memory
    CHECK(cache.stats().hits == n);
    CHECK(cache.stats().misses == n);
    const std::uint64_t base_bytes = 14 * 14 * 3;  // 16px shapes resized to the 14px base
    CHECK(cache.stats().bytes == n * base_bytes);
  }
}

TEST_CASE("loader: the memory cache keeps no more than its budget", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 6, 16, 2);
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  ftl::LoaderOptions options;
  options.batch_size = 4;
  options.preprocess.image_size = 12;
  options.workers = 1;
  const std::uint64_t base_bytes = 14 * 14 * 3;
  ftl::ImageCache cache(5 * base_bytes + base_bytes / 2);  // room for five images
  options.cache = &cache;
  const auto first = one_pass(data.samples, ftl::identity_order(data.samples.size()), options);
  CHECK(cache.stats().images == 5);
  CHECK(cache.stats().bytes == 5 * base_bytes);
  CHECK(cache.stats().refused == data.samples.size() - 5);
  const auto second = one_pass(data.samples, ftl::identity_order(data.samples.size()), options);
  CHECK(same_batches(first, second));
  CHECK(cache.stats().hits == 5);
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
