#include "ftl/model/model.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <set>
#include <stdexcept>

#include "ftl/eval/inspect.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::kResNet18;

namespace {

// Models that ftl must refuse or warn about, written once per test process by Python.
const ftl::testing::TempDir& odd_models() {
  static const ftl::testing::TempDir dir;
  static const int made =
      ftl::testing::run_command(ftl::testing::kPython + " " + ftl::testing::kSourceDir +
                                "/tests/python/make_models.py " + dir.path().string())
          .exit_code;
  REQUIRE(made == 0);
  return dir;
}

}  // namespace

TEST_CASE("model: a scripted torchvision ResNet-18 loads with its 1000-class head", "[model]") {
  const ftl::LoadedModel loaded = ftl::load_model(kResNet18, torch::kCPU);
  CHECK_FALSE(loaded.traced);
  CHECK(loaded.head.family == "ResNet");
  CHECK(loaded.head.path == "fc");
  CHECK(loaded.head.kind == ftl::HeadKind::kLinear);
  CHECK(loaded.head.in_features == 512);
  CHECK(loaded.head.out_features == 1000);
  CHECK(loaded.head.dropout.empty());
}

TEST_CASE("model: the head is replaced as torch.nn.Linear initialises it", "[model]") {
  ftl::LoadedModel loaded = ftl::load_model(kResNet18, torch::kCPU);
  ftl::replace_head(loaded.module, loaded.head, 3, 42);
  const auto fc = loaded.module.attr("fc").toModule();
  const torch::Tensor weight = fc.attr("weight").toTensor();
  const torch::Tensor bias = fc.attr("bias").toTensor();
  CHECK(weight.sizes() == torch::IntArrayRef({3, 512}));
  CHECK(bias.sizes() == torch::IntArrayRef({3}));
  const double bound = 1.0 / std::sqrt(512.0);
  CHECK(weight.abs().max().item<double>() <= bound);
  CHECK(weight.std().item<double>() > bound / 3);  // spread over the range, not constant
  CHECK(fc.type()->getConstant("out_features").toInt() == 3);
  CHECK(fc.type()->getConstant("in_features").toInt() == 512);
  // The same seed gives the same head.
  ftl::LoadedModel again = ftl::load_model(kResNet18, torch::kCPU);
  ftl::replace_head(again.module, again.head, 3, 42);
  CHECK(torch::equal(weight, again.module.attr("fc").toModule().attr("weight").toTensor()));
  // And the network now outputs 3 logits.
  loaded.module.eval();
  const auto logits = loaded.module.forward({torch::randn({2, 3, 32, 32})}).toTensor();
  CHECK(logits.sizes() == torch::IntArrayRef({2, 3}));
}

TEST_CASE("model: freeze policies name the frozen modules and decide what trains", "[model]") {
  ftl::LoadedModel loaded = ftl::load_model(kResNet18, torch::kCPU);
  ftl::replace_head(loaded.module, loaded.head, 3, 0);
  CHECK(ftl::frozen_modules(loaded.module, ftl::find_head(loaded.module, "auto", ""),
                            ftl::FreezePolicy::parse("none"))
            .empty());
  const std::set<std::string> up_to_2 = {"conv1", "bn1", "relu", "maxpool", "layer1", "layer2"};
  CHECK(ftl::frozen_modules(loaded.module, ftl::find_head(loaded.module, "auto", ""),
                            ftl::FreezePolicy::parse("up_to:layer2")) == up_to_2);
  const std::set<std::string> backbone = {"conv1",  "bn1",    "relu",   "maxpool", "layer1",
                                          "layer2", "layer3", "layer4", "avgpool"};
  CHECK(ftl::frozen_modules(loaded.module, ftl::find_head(loaded.module, "auto", ""),
                            ftl::FreezePolicy::parse("backbone")) == backbone);

  const auto head_only = ftl::configure_trainable(loaded.module, backbone);
  REQUIRE(head_only.size() == 2);
  CHECK(head_only[0].name == "fc.weight");
  CHECK_FALSE(loaded.module.attr("conv1").toModule().attr("weight").toTensor().requires_grad());

  const auto upper = ftl::configure_trainable(loaded.module, up_to_2);
  for (const auto& parameter : upper) {
    INFO(parameter.name);
    CHECK((parameter.name.rfind("layer3", 0) == 0 || parameter.name.rfind("layer4", 0) == 0 ||
           parameter.name.rfind("fc", 0) == 0));
  }
  CHECK(upper.size() == 2 + 15 + 15);  // fc, and layer3 and layer4 with 15 tensors each
  const auto everything = ftl::configure_trainable(loaded.module, {});
  CHECK(everything.size() == loaded.module.parameters().size());
}

TEST_CASE("model: a network without the layers a freeze policy names is refused", "[model]") {
  const auto& dir = odd_models();
  const auto small = ftl::load_model((dir / "scripted_small.pt").string(), torch::kCPU);
  const ftl::Head head = ftl::find_head(small.module, "auto", "scripted_small.pt");
  CHECK(head.path == "fc");
  CHECK(head.family.empty());
  REQUIRE_THROWS_WITH(
      ftl::frozen_modules(small.module, head, ftl::FreezePolicy::parse("up_to:layer3")),
      "model.freeze \"up_to:layer3\": the network has no module 'layer3'; the "
      "modules at its top are: conv1, bn1, fc");
  REQUIRE_THROWS_WITH(
      ftl::frozen_modules(small.module, head, ftl::FreezePolicy::parse("up_to:bn1.weight")),
      "model.freeze \"up_to:bn1.weight\": the network has no module 'bn1.weight'; "
      "the modules in bn1 are: none");
  REQUIRE_THROWS_WITH(ftl::frozen_modules(small.module, head, ftl::FreezePolicy::parse("up_to:fc")),
                      "model.freeze \"up_to:fc\": it would freeze the head fc; name a module "
                      "before it");
  CHECK(ftl::frozen_modules(small.module, head, ftl::FreezePolicy::parse("up_to:bn1")) ==
        std::set<std::string>{"conv1", "bn1"});
}

TEST_CASE("model: BatchNorm policies decide which layers keep their statistics", "[model]") {
  ftl::LoadedModel loaded = ftl::load_model(kResNet18, torch::kCPU);
  const std::set<std::string> up_to_1 =
      ftl::frozen_modules(loaded.module, ftl::find_head(loaded.module, "auto", ""),
                          ftl::FreezePolicy::parse("up_to:layer1"));
  auto training_of = [&](const std::string& name) {
    for (const auto& child : loaded.module.named_modules()) {
      if (child.name == name) return child.value.is_training();
    }
    throw std::runtime_error("no module " + name);
  };
  SECTION("follow: the frozen part is in eval mode, the rest trains") {
    ftl::set_training(loaded.module, true, up_to_1, ftl::BatchNormPolicy::kFollow);
    CHECK_FALSE(training_of("bn1"));
    CHECK_FALSE(training_of("layer1.0.bn1"));
    CHECK(training_of("layer2.0.bn1"));
    CHECK(training_of("fc"));
    CHECK(ftl::any_batchnorm_training(loaded.module));
  }
  SECTION("follow with a frozen backbone: no BatchNorm layer trains") {
    ftl::set_training(loaded.module, true,
                      ftl::frozen_modules(loaded.module, ftl::find_head(loaded.module, "auto", ""),
                                          ftl::FreezePolicy::parse("backbone")),
                      ftl::BatchNormPolicy::kFollow);
    CHECK(loaded.module.is_training());
    CHECK(training_of("fc"));
    CHECK_FALSE(ftl::any_batchnorm_training(loaded.module));
  }
  SECTION("frozen: every BatchNorm layer is in eval mode, other modules train") {
    ftl::set_training(loaded.module, true, {}, ftl::BatchNormPolicy::kFrozen);
    CHECK_FALSE(training_of("layer4.1.bn2"));
    CHECK(training_of("layer4.1"));
    CHECK_FALSE(ftl::any_batchnorm_training(loaded.module));
  }
  SECTION("train: every layer trains, frozen or not") {
    ftl::set_training(loaded.module, true, up_to_1, ftl::BatchNormPolicy::kTrain);
    CHECK(training_of("bn1"));
    CHECK(training_of("layer1.0.bn1"));
  }
  SECTION("evaluation puts everything in eval mode") {
    ftl::set_training(loaded.module, false, {}, ftl::BatchNormPolicy::kTrain);
    CHECK_FALSE(training_of("bn1"));
    CHECK_FALSE(training_of("fc"));
  }
}

TEST_CASE("model: unusable files are refused with a message naming the path", "[model]") {
  const auto& dir = odd_models();
  REQUIRE_THROWS_WITH(ftl::load_model((dir / "frozen.pt").string(), torch::kCPU),
                      Contains((dir / "frozen.pt").string()) &&
                          Contains("no trainable parameters") && Contains("torch.jit.script"));
  const std::string no_fc = (dir / "no_fc.pt").string();
  // No head found: a model ftl cannot use as it stands (exit 1), not a bad setting. Without a
  // probe pass (probe_side 0) the output width is unknown, so no layer is taken for the head.
  REQUIRE_THROWS_AS(ftl::load_model(no_fc, torch::kCPU), ftl::ModelError);
  REQUIRE_THROWS_WITH(ftl::load_model(no_fc, torch::kCPU),
                      "model.head \"auto\": " + no_fc +
                          "'s network (class Sequential) is of no torchvision family, has no "
                          "Linear fc, classifier, heads.head or head, and no Linear or 1x1 Conv2d "
                          "layer as wide as its output; name its head with model.head; its Linear "
                          "and 1x1 Conv2d layers: 0");
  CHECK(ftl::load_model(no_fc, torch::kCPU, "0").head.path == "0");
  REQUIRE_THROWS_WITH(ftl::load_model(no_fc, torch::kCPU, "fc"),
                      "model.head \"fc\": " + no_fc +
                          "'s network (class Sequential) has no module 'fc'; its Linear and 1x1 "
                          "Conv2d layers: 0");
  const auto junk = dir / "junk.pt";
  std::ofstream(junk) << "not a zip";
  REQUIRE_THROWS_AS(ftl::load_model(junk.string(), torch::kCPU), ftl::ModelError);
  REQUIRE_THROWS_WITH(ftl::load_model(junk.string(), torch::kCPU),
                      Contains(junk.string() + ": not a loadable TorchScript file"));
  REQUIRE_THROWS_WITH(ftl::load_model((dir / "missing.pt").string(), torch::kCPU),
                      (dir / "missing.pt").string() + ": no such model file");
}

TEST_CASE("model: a traced file is detected, a scripted one is not", "[model]") {
  const auto& dir = odd_models();
  CHECK(ftl::load_model((dir / "traced.pt").string(), torch::kCPU).traced);
  CHECK_FALSE(ftl::load_model((dir / "scripted_small.pt").string(), torch::kCPU).traced);
}

TEST_CASE("inspect: a scripted and a traced file, and a file that is not a model", "[model]") {
  const auto scripted = ftl::inspect_file(kResNet18);
  CHECK(scripted["kind"] == "scripted");
  CHECK(scripted["ftl_checkpoint"] == false);
  CHECK(scripted["family"] == "ResNet");
  CHECK(scripted["class"] == "ResNet");
  CHECK(scripted["head"]["path"] == "fc");
  CHECK(scripted["head"]["kind"] == "Linear");
  CHECK(scripted["head"]["in_features"] == 512);
  CHECK(scripted["head"]["out_features"] == 1000);
  CHECK(scripted["parameters"]["total"] == 11689512);  // torchvision's ResNet-18
  CHECK(scripted["parameters"]["frozen"] == 0);
  CHECK(scripted["tensors"] == 62);
  CHECK_FALSE(scripted.contains("classes"));
  CHECK_THAT(ftl::inspect_text(scripted),
             Contains("family        ResNet\nhead          fc (Linear 512 -> 1000)") &&
                 Contains("11,689,512 in 62 tensors"));

  const auto& dir = odd_models();
  CHECK(ftl::inspect_file(dir / "traced.pt")["kind"] == "traced");
  const auto no_fc = ftl::inspect_file(dir / "no_fc.pt");
  CHECK(no_fc["head"].is_null());
  CHECK(no_fc["family"].is_null());
  CHECK_THAT(ftl::inspect_text(no_fc),
             Contains("family        none of torchvision's (class Sequential)\nhead          none "
                      "found: model.head \"auto\": "));
  const auto junk = dir / "junk.pt";
  std::ofstream(junk) << "not a zip";
  REQUIRE_THROWS_AS(ftl::inspect_file(junk), ftl::ModelError);
  REQUIRE_THROWS_WITH(ftl::inspect_file(dir / "missing.pt"),
                      (dir / "missing.pt").string() + ": no such file");
}
