// Parameter groups (discriminative lr, no decay on biases and BatchNorm) and the optimizer state
// saved and restored by parameter name.
#include "ftl/train/optimizer.h"

#include <catch2/catch.hpp>

#include "ftl/model/model.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"

using Catch::Matchers::Contains;

namespace {

ftl::Config group_config() {
  ftl::Config config;
  config.optimizer.lr = 0.1;
  config.optimizer.weight_decay = 1e-4;
  config.model.backbone_lr_mult = 0.1;
  return config;
}

torch::jit::Module resnet(std::int64_t classes) {
  ftl::LoadedModel loaded = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  ftl::replace_head(loaded.module, classes, 0);
  return loaded.module;
}

// One SGD step on random data, so that momentum buffers exist.
void step_once(torch::jit::Module& module, ftl::TrainingOptimizer& optimizer) {
  torch::manual_seed(1);
  module.train();
  const auto logits = module.forward({torch::randn({2, 3, 32, 32})}).toTensor();
  optimizer.sgd().zero_grad();
  logits.sum().backward();
  optimizer.sgd().step();
}

}  // namespace

TEST_CASE("optimizer: head and backbone groups, no decay on biases and BatchNorm", "[optimizer]") {
  torch::jit::Module module = resnet(3);
  const ftl::Config config = group_config();
  ftl::TrainingOptimizer optimizer(ftl::configure_trainable(module, {}), config);
  const auto& groups = optimizer.groups();
  REQUIRE(groups.size() == 4);
  CHECK(groups[0].name == "head");
  CHECK(groups[0].parameters == std::vector<std::string>{"fc.weight"});
  CHECK(groups[1].name == "head_no_decay");
  CHECK(groups[1].parameters == std::vector<std::string>{"fc.bias"});
  CHECK(groups[2].name == "backbone");
  CHECK(groups[2].parameters.front() == "conv1.weight");
  CHECK(groups[3].name == "backbone_no_decay");
  CHECK(groups[3].parameters.front() == "bn1.weight");
  CHECK(optimizer.num_parameters() == module.parameters().size());

  optimizer.set_lr(0.05);
  auto& sgd_groups = optimizer.sgd().param_groups();
  auto options = [&](std::size_t i) {
    return static_cast<torch::optim::SGDOptions&>(sgd_groups[i].options());
  };
  CHECK(options(0).lr() == 0.05);
  CHECK(options(1).lr() == 0.05);
  CHECK(options(2).lr() == Approx(0.005));  // backbone: lr x backbone_lr_mult
  CHECK(options(3).lr() == Approx(0.005));
  CHECK(options(0).weight_decay() == 1e-4);
  CHECK(options(1).weight_decay() == 0.0);
  CHECK(options(2).weight_decay() == 1e-4);
  CHECK(options(3).weight_decay() == 0.0);

  // With no_decay_bn_bias off (or no weight decay) there is one group per part.
  ftl::Config plain = config;
  plain.optimizer.no_decay_bn_bias = false;
  ftl::TrainingOptimizer two(ftl::configure_trainable(module, {}), plain);
  CHECK(two.groups().size() == 2);
}

TEST_CASE("optimizer: unfrozen parameters join as new groups", "[optimizer]") {
  torch::jit::Module module = resnet(3);
  const auto frozen = ftl::frozen_modules(module, "up_to:layer3");
  ftl::TrainingOptimizer optimizer(ftl::configure_trainable(module, frozen), group_config());
  const std::size_t before = optimizer.num_parameters();
  CHECK(before == 2 + 15);  // fc and layer4
  std::vector<torch::jit::NameTensor> newly;
  for (const auto& parameter : module.named_parameters()) {
    if (!parameter.value.requires_grad()) newly.push_back(parameter);
  }
  optimizer.add(newly, "unfrozen");
  CHECK(optimizer.num_parameters() == module.parameters().size());
  CHECK(optimizer.groups().back().name == "unfrozen_no_decay");
  CHECK(optimizer.groups().back().lr_mult == 0.1);
}

TEST_CASE("optimizer: state round-trips by name and a different network is refused",
          "[optimizer]") {
  torch::jit::Module module = resnet(3);
  const ftl::Config config = group_config();
  ftl::TrainingOptimizer optimizer(ftl::configure_trainable(module, {}), config);
  optimizer.set_lr(0.02);
  step_once(module, optimizer);
  const nlohmann::json state = optimizer.state_json();
  const auto tensors = optimizer.state_tensors();
  CHECK(tensors.size() == module.parameters().size());
  CHECK(state["groups"][2]["lr"] == Approx(0.002));

  torch::jit::Module same = resnet(3);
  ftl::TrainingOptimizer restored(ftl::configure_trainable(same, {}), config);
  restored.load_state(state, tensors, "last.pt");
  CHECK(restored.state_json() == state);  // lr restored too (LibTorch's own load does not)
  const auto again = restored.state_tensors();
  for (const auto& [name, buffer] : tensors) {
    INFO(name);
    CHECK(torch::equal(again.at(name), buffer));
  }

  torch::jit::Module other = resnet(5);  // a head of another shape
  ftl::TrainingOptimizer mismatched(ftl::configure_trainable(other, {}), config);
  REQUIRE_THROWS_AS(mismatched.load_state(state, tensors, "last.pt"), ftl::ModelError);
  REQUIRE_THROWS_WITH(mismatched.load_state(state, tensors, "last.pt"),
                      "last.pt: optimizer state does not match the network: group 'head' "
                      "parameter 0 is fc.weight [3,512] saved, fc.weight [5,512] here");

  ftl::TrainingOptimizer fewer(
      ftl::configure_trainable(same, ftl::frozen_modules(same, "backbone")), config);
  REQUIRE_THROWS_WITH(fewer.load_state(state, tensors, "last.pt"),
                      Contains("4 parameter groups saved, 2 here"));
}
