#include "ftl/loader.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "ftl/dataset.h"
#include "ftl/errors.h"
#include "ftl/preprocess.h"
#include "support/image_files.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::TempDir;

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

TEST_CASE("loader: a corrupt image stops the epoch with an error naming the file", "[loader]") {
  TempDir dir;
  ftl::testing::write_shapes(dir.path(), 4, 8, 5);
  const auto corrupt = dir / "square/corrupt.png";
  std::ofstream(corrupt) << "\x89PNG\r\n\x1a\n garbage";
  const ftl::ImageFolder data = ftl::scan_image_folder(dir.path());
  ftl::LoaderOptions options;
  options.batch_size = 2;
  options.preprocess.image_size = 8;
  options.workers = 2;
  ftl::BatchLoader loader(data.samples, ftl::identity_order(data.samples.size()), options);
  ftl::Batch batch;
  REQUIRE_THROWS_AS(
      [&] {
        while (loader.next(batch)) {
        }
      }(),
      ftl::DataError);
  ftl::BatchLoader again(data.samples, ftl::identity_order(data.samples.size()), options);
  REQUIRE_THROWS_WITH(
      [&] {
        while (again.next(batch)) {
        }
      }(),
      Contains(corrupt.string()));
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
