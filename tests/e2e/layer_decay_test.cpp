// optimizer.layer_decay on the torchvision families: each parameter's learning rate against
// timm's formula, lr x backbone_lr_mult x decay ** (max_depth - depth), with the depths written
// out here from the family's own module names (ViT's encoder_layer_N, ResNet's layerN.j,
// Swin's and ConvNeXt's features.i.j, MobileNet's features.i), and `ftl inspect --groups`.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <regex>

#include "ftl/config/config.h"
#include "ftl/model/head.h"
#include "ftl/model/layer_depth.h"
#include "ftl/train/optimizer.h"
#include "ftl/train/run_log.h"
#include "support/fixtures.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

constexpr double kLr = 1e-3;
constexpr double kDecay = 0.75;
constexpr double kBackboneMult = 0.5;
constexpr std::int64_t kClasses = 3;

// The depth the family's rule gives a parameter, and the head's block's depth.
using DepthRule = std::function<std::int64_t(const std::string&)>;

bool starts(const std::string& name, const std::string& prefix) {
  return name.rfind(prefix + ".", 0) == 0;
}

// The index in `name` after `pattern`'s first group, or -1.
std::int64_t captured(const std::string& name, const char* pattern) {
  std::smatch match;
  return std::regex_search(name, match, std::regex(pattern)) ? std::stoll(match[1].str()) : -1;
}

struct Network {
  torch::jit::Module module;
  ftl::Head head;
};

Network trainable(const std::string& model) {
  Network network{torch::jit::load((ftl::testing::kFamiliesDir / (model + ".pt")).string()), {}};
  network.head =
      ftl::replace_head(network.module, ftl::find_head(network.module, "auto", model), kClasses, 0);
  return network;
}

ftl::Config layered_config() {
  ftl::Config config;
  config.optimizer.type = ftl::OptimizerType::kAdamW;
  config.optimizer.lr = kLr;
  config.optimizer.weight_decay = 0.05;
  config.optimizer.layer_decay = kDecay;
  config.model.backbone_lr_mult = kBackboneMult;
  return config;
}

// Every parameter's group lr against timm's formula at the rule's depth.
void check_rates(const std::string& model, std::int64_t max_depth, const DepthRule& rule) {
  INFO(model);
  Network network = trainable(model);
  const ftl::LayerDepths depths = ftl::layer_depths(network.module, network.head);
  CHECK(depths.max_depth == max_depth);
  std::vector<torch::jit::NameTensor> parameters;
  for (const auto& parameter : network.module.named_parameters(/*recurse=*/true)) {
    parameters.push_back(parameter);
  }
  ftl::TrainingOptimizer optimizer(parameters, network.head, layered_config(), depths);
  std::map<std::string, double> rate;
  const auto& groups = optimizer.groups();
  for (std::size_t i = 0; i < groups.size(); ++i) {
    for (const std::string& name : groups[i].parameters) {
      rate[name] = optimizer.optimizer().param_groups()[i].options().get_lr();
    }
  }
  REQUIRE(rate.size() == parameters.size());
  for (const auto& parameter : parameters) {
    INFO(parameter.name);
    const std::int64_t depth = rule(parameter.name);
    CHECK(depths.depth.at(parameter.name) == depth);
    const double mult = depth == max_depth ? 1.0 : kBackboneMult;
    CHECK(rate.at(parameter.name) ==
          Approx(kLr * mult * std::pow(kDecay, static_cast<double>(max_depth - depth)))
              .epsilon(1e-12));
  }
  // A schedule moves every group's lr and keeps the ratios.
  optimizer.set_lr(2 * kLr);
  for (std::size_t i = 0; i < groups.size(); ++i) {
    CHECK(optimizer.optimizer().param_groups()[i].options().get_lr() ==
          Approx(2 * kLr * groups[i].lr_mult).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("layer decay: ViT's and ResNet's learning rates are timm's", "[families]") {
  // vit_tiny has 2 encoder layers: the stem at 0, encoder_layer_N at N + 1, encoder.ln with
  // the last, heads at 3.
  check_rates("vit_tiny", 3, [](const std::string& name) -> std::int64_t {
    if (starts(name, "heads")) return 3;
    if (starts(name, "encoder.ln")) return 2;
    const std::int64_t layer = captured(name, "^encoder\\.layers\\.encoder_layer_(\\d+)\\.");
    return layer >= 0 ? layer + 1 : 0;
  });
  // ResNet-50: 3, 4, 6 and 3 Bottlenecks in layer1 .. layer4, conv1 and bn1 at 0, fc at 17.
  const std::vector<std::int64_t> before_layer = {0, 3, 7, 13};
  check_rates("resnet50", 17, [&](const std::string& name) -> std::int64_t {
    if (starts(name, "fc")) return 17;
    const std::int64_t layer = captured(name, "^layer(\\d)\\.");
    if (layer < 0) return 0;
    return before_layer[static_cast<std::size_t>(layer - 1)] +
           captured(name, "^layer\\d\\.(\\d+)\\.") + 1;
  });
}

TEST_CASE("layer decay: Swin's, ConvNeXt's and MobileNetV3's depths", "[families]") {
  // swin_tiny: one block in each of 2 stages; features.2 merges patches for the second.
  check_rates("swin_tiny", 3, [](const std::string& name) -> std::int64_t {
    if (starts(name, "head")) return 3;
    if (starts(name, "features.0")) return 0;
    if (starts(name, "features.1.0")) return 1;
    return 2;  // features.2 (with the block it feeds), features.3.0, norm (with the last)
  });
  // ConvNeXt-Tiny: 3, 3, 9 and 3 CNBlocks in features.1, .3, .5 and .7; features.2, .4 and
  // .6 downsample into the next stage.
  const std::map<std::int64_t, std::int64_t> before_stage = {{1, 0}, {3, 3}, {5, 6}, {7, 15}};
  check_rates("convnext_tiny", 19, [&](const std::string& name) -> std::int64_t {
    if (starts(name, "classifier")) return 19;
    const std::int64_t stage = captured(name, "^features\\.(\\d+)\\.");
    if (stage == 0) return 0;
    if (stage % 2 == 0) return before_stage.at(stage + 1) + 1;
    return before_stage.at(stage) + captured(name, "^features\\.\\d+\\.(\\d+)\\.") + 1;
  });
  // MobileNetV3-Small: features.1 .. features.11 are its InvertedResiduals; features.12, the
  // last convolution, goes with the last.
  check_rates("mobilenet_v3_small", 12, [](const std::string& name) -> std::int64_t {
    if (starts(name, "classifier")) return 12;
    const std::int64_t index = captured(name, "^features\\.(\\d+)\\.");
    return std::min<std::int64_t>(index, 11);
  });
}

TEST_CASE("layer decay: groups per depth, named and logged, and after unfreezing", "[families]") {
  Network network = trainable("mobilenet_v3_small");
  const ftl::LayerDepths depths = ftl::layer_depths(network.module, network.head);
  std::vector<torch::jit::NameTensor> head;
  std::vector<torch::jit::NameTensor> backbone;
  for (const auto& parameter : network.module.named_parameters(/*recurse=*/true)) {
    (network.head.in_block(parameter.name) ? head : backbone).push_back(parameter);
  }
  // Without the depths, layer decay cannot place a parameter.
  REQUIRE_THROWS_WITH(ftl::TrainingOptimizer(backbone, network.head, layered_config()),
                      "optimizer.layer_decay: no depth for features.0.0.weight");
  // A frozen backbone at first: the head's block alone, at depth 12.
  ftl::TrainingOptimizer optimizer(head, network.head, layered_config(), depths);
  CHECK(ftl::describe_groups(optimizer.groups()) ==
        "head (depth 12, scale 1, 2 tensors, lr x 1), head_no_decay (depth 12, scale 1, 2 "
        "tensors, lr x 1)");
  optimizer.add(backbone, "unfrozen");
  const auto& groups = optimizer.groups();
  REQUIRE(groups.size() == 2 + 2 * 12);
  CHECK(groups[2].name == "unfrozen_layer_0");
  CHECK(groups[3].name == "unfrozen_layer_0_no_decay");
  CHECK(groups[2].depth == 0);
  CHECK(groups[2].scale == Approx(std::pow(kDecay, 12)));
  CHECK(groups[2].lr_mult == Approx(kBackboneMult * std::pow(kDecay, 12)));
  CHECK(groups.back().name == "unfrozen_layer_11_no_decay");
  // features.11 and features.12's weights (their biases and BatchNorm weights: _no_decay).
  const ftl::ParamGroup& last = groups[groups.size() - 2];
  CHECK(last.name == "unfrozen_layer_11");
  for (const std::string& name : last.parameters) {
    CHECK((starts(name, "features.11") || starts(name, "features.12")));
  }
  CHECK_THAT(ftl::describe_groups(groups),
             Contains("unfrozen_layer_11 (depth 11, scale 0.75, " +
                      std::to_string(last.parameters.size()) + " tensors, lr x 0.375)"));
}

TEST_CASE("layer decay: ftl inspect --groups lists the depths of a model and a checkpoint",
          "[families]") {
  const fs::path vit = ftl::testing::kFamiliesDir / "vit_tiny.pt";
  const auto listed = ftl::testing::run_command(ftl::testing::ftl_command(
      "inspect " + ftl::testing::shell_quote(vit.string()) + " --groups"));
  INFO(listed.output);
  REQUIRE(listed.exit_code == 0);
  CHECK_THAT(listed.output,
             Contains("groups        optimizer.layer_decay 0.75: lr x 0.75 ** (3 - depth); the "
                      "head's block at depth 3\n") &&
                 Contains("  depth     scale  tensors    parameters  first .. last\n") &&
                 Contains("      0    0.4219        4") &&
                 Contains("class_token .. encoder.pos_embedding\n") &&
                 Contains("      3         1        2") &&
                 Contains("heads.head.weight .. heads.head.bias\n"));
  const auto json = ftl::testing::run_command(ftl::testing::ftl_command(
      "inspect " + ftl::testing::shell_quote(vit.string()) + " --groups --layer-decay 0.5 --json"));
  REQUIRE(json.exit_code == 0);
  const auto groups = nlohmann::json::parse(json.output).at("groups");
  CHECK(groups.at("layer_decay") == 0.5);
  CHECK(groups.at("depths").size() == 4);
  CHECK(groups.at("depths")[1].at("scale") == 0.25);
  CHECK(groups.at("depths")[1].at("first") == "encoder.layers.encoder_layer_0.ln_1.weight");

  const auto refused = ftl::testing::run_command(ftl::testing::ftl_command(
      "inspect " + ftl::testing::shell_quote(vit.string()) + " --groups --layer-decay 1.5 2>&1"));
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Contains("--layer-decay"));
}
