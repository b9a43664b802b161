#include "ftl/loader.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "ftl/dataset.h"
#include "ftl/errors.h"
#include "ftl/preprocess.h"
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

TEST_CASE("preprocess: resizing matches PIL's bilinear resize within one level", "[loader]") {
  TempDir dir;
  constexpr int kSide = 20;
  std::mt19937 random(11);
  std::uniform_int_distribution<int> level(0, 255);
  ftl::Image image;
  image.width = kSide;
  image.height = kSide;
  image.pixels.resize(kSide * kSide * 3);
  for (auto& value : image.pixels) value = static_cast<std::uint8_t>(level(random));
  const auto png = dir / "noise.png";
  ftl::testing::write_png(png, kSide, kSide, 3,
                          std::vector<std::uint16_t>(image.pixels.begin(), image.pixels.end()));
  for (int side : {32, 12}) {  // upsampling and antialiased downsampling
    INFO("side " << side);
    const auto raw = dir / ("pil_" + std::to_string(side) + ".rgb");
    const auto python = ftl::testing::run_command(
        ftl::testing::kPython + " " + ftl::testing::kSourceDir + "/tests/python/pil_resize.py " +
        png.string() + " " + std::to_string(side) + " " + raw.string() + " 2>&1");
    INFO(python.output);
    REQUIRE(python.exit_code == 0);
    std::ifstream in(raw, std::ios::binary);
    const std::vector<char> pil((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
    REQUIRE(pil.size() == static_cast<std::size_t>(side * side * 3));

    ftl::Preprocess identity;  // mean 0 and std 1 keep the [0, 1] scale
    identity.image_size = side;
    identity.mean = {0, 0, 0};
    identity.std = {1, 1, 1};
    torch::Tensor out = torch::empty({3, side, side});
    ftl::preprocess_into(image, identity, out);
    const torch::Tensor ours = out.permute({1, 2, 0}).mul(255).round().to(torch::kInt32);
    const torch::Tensor theirs =
        torch::from_blob(const_cast<char*>(pil.data()), {side, side, 3}, torch::kUInt8)
            .to(torch::kInt32);
    CHECK((ours - theirs).abs().max().item<int>() <= 1);
  }
}
