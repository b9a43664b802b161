// Parameter groups (discriminative lr, no decay on biases and BatchNorm), the optimizer state
// saved and restored by parameter name, and AdamW against torch.optim.AdamW.
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

// The ResNet fixture's head: the optimizer's groups ask only which parameters it holds.
ftl::Head fc_head() {
  ftl::Head head;
  head.path = "fc";
  head.block = "fc";
  return head;
}

torch::jit::Module resnet(std::int64_t classes) {
  ftl::LoadedModel loaded = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  ftl::replace_head(loaded.module, loaded.head, classes, 0);
  return loaded.module;
}

// One SGD step on random data, so that momentum buffers exist.
void step_once(torch::jit::Module& module, ftl::TrainingOptimizer& optimizer) {
  torch::manual_seed(1);
  module.train();
  const auto logits = module.forward({torch::randn({2, 3, 32, 32})}).toTensor();
  optimizer.optimizer().zero_grad();
  logits.sum().backward();
  optimizer.optimizer().step();
}

}  // namespace

TEST_CASE("optimizer: head and backbone groups, no decay on biases and BatchNorm", "[optimizer]") {
  torch::jit::Module module = resnet(3);
  const ftl::Config config = group_config();
  ftl::TrainingOptimizer optimizer(ftl::configure_trainable(module, {}), fc_head(), config);
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
  auto& sgd_groups = optimizer.optimizer().param_groups();
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
  ftl::TrainingOptimizer two(ftl::configure_trainable(module, {}), fc_head(), plain);
  CHECK(two.groups().size() == 2);
}

TEST_CASE("optimizer: unfrozen parameters join as new groups", "[optimizer]") {
  torch::jit::Module module = resnet(3);
  const auto frozen = ftl::frozen_modules(module, ftl::find_head(module, "auto", ""),
                                          ftl::FreezePolicy::parse("up_to:layer3"));
  ftl::TrainingOptimizer optimizer(ftl::configure_trainable(module, frozen), fc_head(),
                                   group_config());
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
  ftl::TrainingOptimizer optimizer(ftl::configure_trainable(module, {}), fc_head(), config);
  optimizer.set_lr(0.02);
  step_once(module, optimizer);
  const nlohmann::json state = optimizer.state_json();
  const auto tensors = optimizer.state_tensors();
  CHECK(tensors.size() == module.parameters().size());
  CHECK(state["groups"][2]["lr"] == Approx(0.002));

  torch::jit::Module same = resnet(3);
  ftl::TrainingOptimizer restored(ftl::configure_trainable(same, {}), fc_head(), config);
  restored.load_state(state, tensors, "last.pt");
  CHECK(restored.state_json() == state);  // lr restored too (LibTorch's own load does not)
  const auto again = restored.state_tensors();
  for (const auto& [name, buffer] : tensors) {
    INFO(name);
    CHECK(torch::equal(again.at(name), buffer));
  }

  torch::jit::Module other = resnet(5);  // a head of another shape
  ftl::TrainingOptimizer mismatched(ftl::configure_trainable(other, {}), fc_head(), config);
  REQUIRE_THROWS_AS(mismatched.load_state(state, tensors, "last.pt"), ftl::ModelError);
  REQUIRE_THROWS_WITH(mismatched.load_state(state, tensors, "last.pt"),
                      "last.pt: optimizer state does not match the network: group 'head' "
                      "parameter 0 is fc.weight [3,512] saved, fc.weight [5,512] here");

  ftl::TrainingOptimizer fewer(
      ftl::configure_trainable(same, ftl::frozen_modules(same, ftl::find_head(same, "auto", ""),
                                                         ftl::FreezePolicy::parse("backbone"))),
      fc_head(), config);
  REQUIRE_THROWS_WITH(fewer.load_state(state, tensors, "last.pt"),
                      Contains("4 parameter groups saved, 2 here"));
}

namespace {

// The weight [3, 4] and bias [3] of tests/python/adamw_steps.py, as a head's parameters.
std::vector<torch::jit::NameTensor> adamw_parameters() {
  torch::Tensor weight = torch::arange(12, torch::kFloat32).reshape({3, 4}) * 0.1 - 0.5;
  torch::Tensor bias = torch::arange(3, torch::kFloat32) * 0.2;
  weight.requires_grad_(true);
  bias.requires_grad_(true);
  return {{"fc.weight", weight}, {"fc.bias", bias}};
}

ftl::Config adamw_config() {
  ftl::Config config;
  config.optimizer.type = ftl::OptimizerType::kAdamW;
  config.optimizer.lr = 0.01;
  config.optimizer.betas = {0.9, 0.99};
  config.optimizer.eps = 1e-6;
  config.optimizer.weight_decay = 0.05;  // the bias is kept out of it (no_decay_bn_bias)
  return config;
}

// Step `step` (0-based) of adamw_steps.py: its gradients, then the update.
void adamw_step(const std::vector<torch::jit::NameTensor>& parameters,
                ftl::TrainingOptimizer& optimizer, int step) {
  const double factor = step + 1;
  parameters[0].value.mutable_grad() =
      torch::sin(torch::arange(12, torch::kFloat32).reshape({3, 4}) * factor);
  parameters[1].value.mutable_grad() = torch::cos(torch::arange(3, torch::kFloat32) * factor);
  optimizer.optimizer().step();
}

}  // namespace

TEST_CASE("optimizer: AdamW steps as torch.optim.AdamW does, and resumes exactly",
          "[optimizer][python]") {
  const auto python = ftl::testing::run_command(
      ftl::testing::kPython + " " + ftl::testing::kSourceDir + "/tests/python/adamw_steps.py 2>&1");
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  const auto expected = nlohmann::json::parse(python.output);

  const auto parameters = adamw_parameters();
  ftl::TrainingOptimizer optimizer(parameters, fc_head(), adamw_config());
  REQUIRE(optimizer.groups().size() == 2);  // head (decayed) and head_no_decay
  for (int step = 0; step < 3; ++step) adamw_step(parameters, optimizer, step);
  const auto weight = parameters[0].value.flatten();
  const auto bias = parameters[1].value;
  for (std::size_t i = 0; i < 12; ++i) {
    INFO("weight " << i);
    CHECK(weight[static_cast<std::int64_t>(i)].item<double>() ==
          Approx(expected["weight"][i].get<double>()).margin(1e-7));
  }
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("bias " << i);
    CHECK(bias[static_cast<std::int64_t>(i)].item<double>() ==
          Approx(expected["bias"][i].get<double>()).margin(1e-7));
  }

  // Two steps, the state saved and loaded into a new optimizer, the third step: bit for bit.
  const auto resumed = adamw_parameters();
  ftl::TrainingOptimizer first(resumed, fc_head(), adamw_config());
  for (int step = 0; step < 2; ++step) adamw_step(resumed, first, step);
  const auto tensors = first.state_tensors();
  CHECK(tensors.at("adamw/step/fc.weight").item<std::int64_t>() == 2);
  CHECK(tensors.count("adamw/exp_avg/fc.bias") == 1);
  CHECK(tensors.count("adamw/exp_avg_sq/fc.bias") == 1);
  ftl::TrainingOptimizer second(resumed, fc_head(), adamw_config());
  second.load_state(first.state_json(), tensors, "last.pt");
  adamw_step(resumed, second, 2);
  CHECK(torch::equal(resumed[0].value, parameters[0].value));
  CHECK(torch::equal(resumed[1].value, parameters[1].value));

  // An SGD state is not an AdamW one.
  ftl::Config sgd = adamw_config();
  sgd.optimizer.type = ftl::OptimizerType::kSgd;
  sgd.optimizer.betas = ftl::OptimizerConfig{}.betas;
  sgd.optimizer.eps = ftl::OptimizerConfig{}.eps;
  ftl::TrainingOptimizer other(resumed, fc_head(), sgd);
  CHECK_THROWS_WITH(other.load_state(first.state_json(), tensors, "last.pt"),
                    "last.pt: the optimizer state is adamw's, not sgd's");
}
