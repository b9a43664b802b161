#include "ftl/data/loader.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "ftl/data/dataset.h"
#include "ftl/data/image_cache.h"
#include "ftl/util/errors.h"
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
