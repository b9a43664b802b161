#include "ftl/train/feature_source.h"

#include <catch2/catch.hpp>

#include "ftl/train/training_model.h"
#include "support/common.h"
#include "support/shapes.h"
#include "support/temp_dir.h"
#include "support/tiny_net.h"
#include "support/tiny_training_model.h"

namespace fs = std::filesystem;

namespace {

// Shapes images at the tiny network's input size, its backbone frozen.
struct FrozenShapes {
  ftl::testing::TempDir dir;
  ftl::Config config;
  ftl::RunData data;
  ftl::LoaderOptions options;
  ftl::TrainingModel model = ftl::testing::tiny_training_model(3, frozen_backbone());
  ftl::SingleProcess ranks;
  std::vector<ftl::BadImage> noted;
  ftl::NoteBadImages note = [this](const std::vector<ftl::BadImage>& bad, const ftl::ImageFolder&) {
    noted.insert(noted.end(), bad.begin(), bad.end());
  };

  static ftl::ModelConfig frozen_backbone() {
    ftl::ModelConfig model;
    model.freeze = ftl::FreezePolicy::parse("backbone");
    return model;
  }
  FrozenShapes() {
    ftl::testing::write_shapes(dir / "train", 3, 8, 1);
    ftl::testing::write_shapes(dir / "val", 2, 8, 2);
    data.train = ftl::scan_dataset(dir / "train");
    data.val = ftl::scan_dataset(dir / "val");
    options.batch_size = 4;
    options.preprocess.image_size = ftl::testing::kTinyNetSide;
    options.preprocess.eval_resize = ftl::EvalResize::kStretch;
    config.train.feature_cache_dir = (dir / "cache").string();
    model.trainable();
    model.set_mode(true);
  }
  ftl::FeatureSource prepared(ftl::FeatureCacheMode mode, const std::string& varying = "") {
    config.train.feature_cache = mode;
    ftl::FeatureSource source(config, torch::kCPU, ftl::ComputeMode{});
    source.prepare(model, varying, data, options, ranks, note, ftl::testing::quiet_logger());
    return source;
  }
};

}  // namespace

TEST_CASE("feature source: off, or an augmented or mixed run, trains on images",
          "[feature_source]") {
  FrozenShapes fixture;
  const ftl::FeatureSource off = fixture.prepared(ftl::FeatureCacheMode::kOff);
  CHECK(off.considered());
  CHECK_FALSE(off.active());
  ftl::Config augmented;
  augmented.data.augment.enabled = true;
  CHECK_FALSE(
      fixture.prepared(ftl::FeatureCacheMode::kAuto, ftl::varying_inputs(augmented)).active());
  ftl::Config mixed;
  mixed.train.mixup.mixup_alpha = 0.8;
  CHECK_FALSE(fixture.prepared(ftl::FeatureCacheMode::kAuto, ftl::varying_inputs(mixed)).active());
}

TEST_CASE("feature source: a frozen backbone's features, as extract_features gives them",
          "[feature_source]") {
  FrozenShapes fixture;
  ftl::FeatureSource source = fixture.prepared(ftl::FeatureCacheMode::kAuto);
  REQUIRE(source.active());
  const ftl::NetworkSplit split(fixture.model.module(), fixture.model.head());
  const ftl::CachedFeatures direct =
      ftl::extract_features(fixture.model.module(), split, fixture.model.head(), fixture.data.train,
                            fixture.options, torch::kCPU, {});
  CHECK(source.train().features.equal(direct.features));
  CHECK(source.val().features.size(0) == 6);
  CHECK(source.train().features.size(1) == ftl::testing::kTinyNetHidden);
  CHECK(fixture.noted.empty());
  // The epoch's batches are the cached rows, in the order asked for.
  ftl::TrainingBatches batches(source, fixture.data.train.samples, {8, 0, 1}, fixture.options,
                               torch::kCPU);
  ftl::Batch batch;
  REQUIRE(batches.next(batch));
  CHECK(batch.images.equal(direct.features.index_select(0, torch::tensor({8, 0, 1}))));
  CHECK_FALSE(batches.next(batch));
  source.drop();
  CHECK_FALSE(source.active());
  CHECK(source.considered());
}

TEST_CASE("feature source: disk keeps the features for the next run", "[feature_source]") {
  FrozenShapes fixture;
  const ftl::FeatureSource first = fixture.prepared(ftl::FeatureCacheMode::kDisk);
  REQUIRE(first.active());
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(fixture.dir / "cache")) {
    if (entry.path().extension() == ".features") ++files;
  }
  CHECK(files == 2);  // training and validation images
  const ftl::FeatureSource second = fixture.prepared(ftl::FeatureCacheMode::kDisk);
  CHECK(second.train().features.equal(first.train().features));
}
