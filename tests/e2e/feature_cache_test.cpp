// The frozen-backbone feature cache on the ResNet-18 fixture: when it applies, that the head
// learns exactly what it learns without it, the disk cache's keys and reuse, and damaged cache
// files.
#include "ftl/train/feature_cache.h"

#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "ftl/model/checkpoint.h"
#include "ftl/model/model.h"
#include "ftl/train/trainer.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

struct Run {
  std::string log;
  ftl::Checkpoint last;
  std::vector<std::string> metrics;  // metrics.jsonl lines
};

// A frozen-backbone run on the shapes in dir/train and dir/val, logged to a string.
Run frozen_run(const ftl::testing::TempDir& dir, const std::string& name,
               const std::string& feature_cache, const fs::path& cache_dir = {}) {
  ftl::Config config = ftl::testing::shapes_config(dir.path(), name);
  config.model.freeze = ftl::FreezePolicy::parse("backbone");
  config.train.epochs = 3;
  ftl::apply_override(config, "train.feature_cache=" + feature_cache);
  config.train.feature_cache_dir = cache_dir.string();
  std::ostringstream log_text;
  spdlog::logger logger("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
  ftl::finetune(config, logger);
  Run run;
  run.log = log_text.str();
  run.last = ftl::load_checkpoint(dir / name / "checkpoints/last.pt", torch::kCPU);
  std::ifstream in(dir / name / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) run.metrics.push_back(line);
  return run;
}

torch::Tensor head(const ftl::Checkpoint& checkpoint, const char* name) {
  return checkpoint.module.attr("fc").toModule().attr(name).toTensor();
}

double metric(const Run& run, std::size_t epoch, const char* key) {
  return nlohmann::json::parse(run.metrics.at(epoch - 1)).at(key).get<double>();
}

std::vector<fs::path> cache_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  return files;
}

}  // namespace

TEST_CASE("feature cache: the head learns the same weights as without it", "[feature_cache][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 14, 5, 21);
  const Run uncached = frozen_run(dir, "off", "off");
  const Run cached = frozen_run(dir, "auto", "auto");
  CHECK_THAT(cached.log, Contains("feature cache: the backbone's 512-d features of 42 training "
                                  "and 15 validation images ready in"));
  CHECK_THAT(uncached.log, !Contains("feature cache"));
  // The same seed and order: the same head, within float rounding, epoch after epoch.
  CHECK(torch::allclose(head(cached.last, "weight"), head(uncached.last, "weight"), 1e-4, 1e-6));
  CHECK(torch::allclose(head(cached.last, "bias"), head(uncached.last, "bias"), 1e-4, 1e-6));
  // Not trivially: the head moved away from its initialisation.
  ftl::LoadedModel fresh = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  ftl::replace_head(fresh.module, fresh.head, 3, 0);
  CHECK((head(cached.last, "weight") - fresh.module.attr("fc").toModule().attr("weight").toTensor())
            .abs()
            .max()
            .item<double>() > 1e-3);
  REQUIRE(cached.metrics.size() == 3);
  for (std::size_t epoch = 1; epoch <= 3; ++epoch) {
    for (const char* key : {"train_loss", "val_loss", "train_acc", "val_acc"}) {
      INFO("epoch " << epoch << " " << key);
      CHECK(metric(cached, epoch, key) == Approx(metric(uncached, epoch, key)).margin(1e-5));
    }
  }
}

TEST_CASE("feature cache: disk keeps features across runs, keyed by the images",
          "[feature_cache][e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes_data(dir.path(), 14, 5, 21);
  const fs::path cache_dir = dir / "cache";
  const Run first = frozen_run(dir, "first", "disk", cache_dir);
  CHECK_THAT(first.log, Contains("feature cache: wrote " + cache_dir.string()));
  REQUIRE(cache_files(cache_dir).size() == 2);  // training and validation images

  const Run second = frozen_run(dir, "second", "disk", cache_dir);
  CHECK_THAT(second.log, Contains("feature cache: read " + cache_dir.string()));
  CHECK_THAT(second.log, !Contains("feature cache: wrote"));
  CHECK(torch::equal(head(first.last, "weight"), head(second.last, "weight")));
  CHECK(cache_files(cache_dir).size() == 2);

  SECTION("an image rewritten since is a new training set") {
    const fs::path image = dir / "train" / "circle" / "0.png";
    REQUIRE(fs::exists(image));
    fs::last_write_time(image, fs::last_write_time(image) + std::chrono::seconds(5));
    const Run third = frozen_run(dir, "third", "disk", cache_dir);
    CHECK_THAT(third.log, Contains("feature cache: wrote"));
    CHECK_THAT(third.log, Contains("feature cache: read"));  // validation is unchanged
    CHECK(cache_files(cache_dir).size() == 3);
  }
  SECTION("a damaged file is computed again and replaced") {
    for (const fs::path& file : cache_files(cache_dir)) {
      fs::resize_file(file, fs::file_size(file) - 100);
    }
    const Run third = frozen_run(dir, "third", "disk", cache_dir);
    CHECK_THAT(third.log, Contains("ignoring a damaged feature cache file: " + cache_dir.string()));
    CHECK_THAT(third.log, Contains("feature cache is cut short or too long"));
    CHECK(torch::equal(head(first.last, "weight"), head(third.last, "weight")));
    const Run fourth = frozen_run(dir, "fourth", "disk", cache_dir);
    CHECK_THAT(fourth.log, !Contains("damaged"));
  }
}

TEST_CASE("feature cache: what keeps it from applying", "[feature_cache]") {
  ftl::LoadedModel loaded = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  torch::jit::Module& model = loaded.module;
  ftl::replace_head(model, loaded.head, 3, 0);
  const std::set<std::string> backbone = ftl::frozen_modules(
      model, ftl::find_head(model, "auto", ""), ftl::FreezePolicy::parse("backbone"));
  ftl::configure_trainable(model, backbone);
  ftl::set_training(model, true, backbone, ftl::BatchNormPolicy::kFollow);
  CHECK(ftl::feature_cache_obstacle(model, ftl::find_head(model, "auto", ""), "").empty());
  ftl::Config config;
  CHECK(ftl::varying_inputs(config).empty());
  config.train.mixup.cutmix_alpha = 1.0;
  CHECK(ftl::varying_inputs(config) ==
        "train.mixup is on: every step mixes the images of its batch");
  config.data.augment.enabled = true;
  CHECK(ftl::feature_cache_obstacle(model, ftl::find_head(model, "auto", ""),
                                    ftl::varying_inputs(config)) ==
        "data.augment is on: every epoch sees other crops of each image");
  ftl::set_training(model, true, backbone, ftl::BatchNormPolicy::kTrain);
  CHECK_THAT(ftl::feature_cache_obstacle(model, ftl::find_head(model, "auto", ""), ""),
             Contains("BatchNorm layer") && Contains("trains: its output depends on the batch"));
  const std::set<std::string> partly = ftl::frozen_modules(
      model, ftl::find_head(model, "auto", ""), ftl::FreezePolicy::parse("up_to:layer2"));
  ftl::configure_trainable(model, partly);
  ftl::set_training(model, true, partly, ftl::BatchNormPolicy::kFollow);
  CHECK_THAT(ftl::feature_cache_obstacle(model, ftl::find_head(model, "auto", ""), ""),
             Contains("the backbone trains (layer3.") && Contains(" is not frozen)"));
}

TEST_CASE("feature cache: keys change with the settings and the images", "[feature_cache]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 2, 16, 3);
  const ftl::ImageFolder data = ftl::scan_dataset((dir / "train").string());
  const nlohmann::json settings = {{"backbone", "abc"}, {"precision", "fp32"}};
  const std::string key = ftl::feature_cache_key(data, settings);
  CHECK(key.size() == 32);
  CHECK(ftl::feature_cache_key(data, settings) == key);
  nlohmann::json bf16 = settings;
  bf16["precision"] = "bf16";
  CHECK(ftl::feature_cache_key(data, bf16) != key);
  ftl::ImageFolder fewer = data;
  fewer.samples.pop_back();
  CHECK(ftl::feature_cache_key(fewer, settings) != key);

  ftl::LoadedModel model = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  const std::string backbone = ftl::backbone_fingerprint(model.module, model.head);
  // The head is not part of the backbone; any backbone weight is.
  ftl::replace_head(model.module, model.head, 7, 1);
  CHECK(ftl::backbone_fingerprint(model.module, model.head) == backbone);
  {
    torch::NoGradGuard no_grad;
    model.module.attr("layer4")
        .toModule()
        .attr("1")
        .toModule()
        .attr("bn2")
        .toModule()
        .attr("running_mean")
        .toTensor()[0]
        .add_(1e-3);
  }
  CHECK(ftl::backbone_fingerprint(model.module, model.head) != backbone);
}
