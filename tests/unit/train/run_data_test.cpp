#include "ftl/train/run_data.h"

#include <catch2/catch.hpp>

#include "ftl/util/errors.h"
#include "support/common.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {

constexpr int kDataSide = 8;

}  // namespace

TEST_CASE("run data: two folders, their counts and the training set's fingerprint", "[run_data]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 3, kDataSide, 1);
  ftl::testing::write_shapes(dir / "val", 2, kDataSide, 2);
  ftl::DataConfig config;
  config.train = (dir / "train").string();
  config.val = (dir / "val").string();
  const ftl::RunData data = ftl::load_run_data(config, 0, ftl::testing::quiet_logger());
  CHECK(data.train.samples.size() == 9);
  CHECK(data.val.samples.size() == 6);
  CHECK(data.train_counts == std::vector<std::int64_t>{3, 3, 3});
  CHECK(data.train_fingerprint == ftl::dataset_fingerprint(data.train));
  CHECK_FALSE(data.split);
  const nlohmann::ordered_json summary = ftl::data_summary(data, dir / "run");
  CHECK(summary["train"]["path"] == config.train);
  CHECK(summary["train"]["images"] == 9);
  CHECK(summary["val"]["classes"]["circle"] == 2);
}

TEST_CASE("run data: data.val_fraction holds out part of each class, named by the manifests",
          "[run_data]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 4, kDataSide, 1);
  ftl::DataConfig config;
  config.train = (dir / "train").string();
  config.val_fraction = 0.25;
  const ftl::RunData data = ftl::load_run_data(config, 7, ftl::testing::quiet_logger());
  CHECK(data.split);
  CHECK(data.train.samples.size() == 9);
  CHECK(data.val.samples.size() == 3);
  const nlohmann::ordered_json summary = ftl::data_summary(data, dir / "run");
  CHECK(summary["train"]["path"] == (dir / "run" / "train_split.csv").string());
  CHECK(summary["val"]["path"] == (dir / "run" / "val_split.csv").string());
  // The same seed, the same split.
  CHECK(ftl::load_run_data(config, 7, ftl::testing::quiet_logger()).val.samples[0].path ==
        data.val.samples[0].path);
}

TEST_CASE("run data: unusable datasets are refused, naming the path", "[run_data]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "one", 1, kDataSide, 1);
  ftl::DataConfig config;
  config.train = (dir / "one").string();
  config.val_fraction = 0.5;
  REQUIRE_THROWS_WITH(ftl::load_run_data(config, 0, ftl::testing::quiet_logger()),
                      "data.val_fraction 0.5 holds out no image of " + config.train +
                          ": every class has a single image; give data.val instead");
  fs::create_directories(dir / "single" / "a");
  fs::copy_file(dir / "one" / "circle" / "0.png", dir / "single" / "a" / "0.png");
  config.train = (dir / "single").string();
  config.val = (dir / "single").string();
  config.val_fraction = 0;
  REQUIRE_THROWS_WITH(ftl::load_run_data(config, 0, ftl::testing::quiet_logger()),
                      config.train + ": at least 2 training images are needed");
}

TEST_CASE("run data: balanced class weights follow the counts", "[run_data]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 2, kDataSide, 1);
  ftl::DataConfig config;
  config.train = (dir / "train").string();
  config.val = config.train;
  const ftl::RunData data = ftl::load_run_data(config, 0, ftl::testing::quiet_logger());
  CHECK_FALSE(
      ftl::run_class_weights("none", data, torch::kCPU, ftl::testing::quiet_logger()).defined());
  const torch::Tensor weights =
      ftl::run_class_weights("balanced", data, torch::kCPU, ftl::testing::quiet_logger());
  CHECK(weights.allclose(torch::ones({3}, torch::kFloat32)));
}
