#include "ftl/train/training_model.h"

#include <catch2/catch.hpp>

#include "support/tiny_net.h"
#include "support/tiny_training_model.h"

namespace {

ftl::ModelConfig frozen_backbone(ftl::BatchNormPolicy batchnorm) {
  ftl::ModelConfig config;
  config.freeze = ftl::FreezePolicy::parse("backbone");
  config.batchnorm = batchnorm;
  return config;
}

bool bn_training(const ftl::TrainingModel& model) {
  return model.module().attr("bn1").toModule().is_training();
}

}  // namespace

TEST_CASE("training model: a frozen backbone trains only the head, its BatchNorm in eval",
          "[training_model]") {
  ftl::TrainingModel model =
      ftl::testing::tiny_training_model(3, frozen_backbone(ftl::BatchNormPolicy::kFollow));
  CHECK(model.frozen() == std::set<std::string>{"bn1", "stem"});
  CHECK(model.phase() == "frozen");
  const std::vector<torch::jit::NameTensor> trainable = model.trainable();
  REQUIRE(trainable.size() == 2);
  CHECK(trainable[0].name == "fc.weight");
  CHECK(trainable[1].name == "fc.bias");
  model.set_mode(true);
  CHECK(model.module().is_training());
  CHECK_FALSE(bn_training(model));
  model.set_mode(false);
  CHECK_FALSE(model.module().is_training());
  CHECK(model.training_json(2) ==
        nlohmann::json({{"phase", "frozen"},
                        {"frozen_modules", {"bn1", "stem"}},
                        {"batchnorm", "follow"},
                        {"trainable_tensors", 2},
                        {"family", nullptr},
                        {"head", "fc"},
                        {"head_block", "fc"},
                        {"head_kind", "Linear"},
                        {"head_in_features", ftl::testing::kTinyNetHidden}}));
}

TEST_CASE("training model: the BatchNorm policy \"train\" trains frozen modules' statistics",
          "[training_model]") {
  ftl::TrainingModel model =
      ftl::testing::tiny_training_model(3, frozen_backbone(ftl::BatchNormPolicy::kTrain));
  model.trainable();
  model.set_mode(true);
  CHECK(bn_training(model));
}

TEST_CASE("training model: unfreezing returns the parameters that start to train",
          "[training_model]") {
  ftl::TrainingModel model =
      ftl::testing::tiny_training_model(3, frozen_backbone(ftl::BatchNormPolicy::kFollow));
  model.trainable();
  const std::vector<torch::jit::NameTensor> newly = model.unfreeze();
  std::vector<std::string> names;
  for (const auto& parameter : newly) names.push_back(parameter.name);
  CHECK(names == std::vector<std::string>{"stem.weight", "stem.bias", "bn1.weight", "bn1.bias"});
  CHECK(model.frozen().empty());
  CHECK(model.phase() == "full");
  for (const auto& parameter : model.module().named_parameters(/*recurse=*/true)) {
    CHECK(parameter.value.requires_grad());
  }
  model.set_mode(true);
  CHECK(bn_training(model));
}
