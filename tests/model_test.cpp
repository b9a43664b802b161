#include "ftl/model.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "ftl/errors.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::kResNet18;

namespace {

const torch::Device kCpu(torch::kCPU);

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
  const ftl::LoadedModel loaded = ftl::load_model(kResNet18, kCpu);
  CHECK_FALSE(loaded.traced);
  CHECK(ftl::head_in_features(loaded.module) == 512);
  CHECK(ftl::head_out_features(loaded.module) == 1000);
}

TEST_CASE("model: the head is replaced as torch.nn.Linear initialises it", "[model]") {
  ftl::LoadedModel loaded = ftl::load_model(kResNet18, kCpu);
  ftl::replace_head(loaded.module, 3, 42);
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
  ftl::LoadedModel again = ftl::load_model(kResNet18, kCpu);
  ftl::replace_head(again.module, 3, 42);
  CHECK(torch::equal(weight, again.module.attr("fc").toModule().attr("weight").toTensor()));
  // And the network now outputs 3 logits.
  loaded.module.eval();
  const auto logits = loaded.module.forward({torch::randn({2, 3, 32, 32})}).toTensor();
  CHECK(logits.sizes() == torch::IntArrayRef({2, 3}));
}

TEST_CASE("model: freeze policy decides what trains", "[model]") {
  ftl::LoadedModel loaded = ftl::load_model(kResNet18, kCpu);
  ftl::replace_head(loaded.module, 3, 0);
  const auto head_only = ftl::configure_trainable(loaded.module, "backbone");
  CHECK(head_only.size() == 2);
  CHECK_FALSE(loaded.module.attr("conv1").toModule().attr("weight").toTensor().requires_grad());
  const auto everything = ftl::configure_trainable(loaded.module, "none");
  CHECK(everything.size() == loaded.module.parameters().size());
}

TEST_CASE("model: frozen backbone layers stay in eval mode through train()", "[model]") {
  ftl::LoadedModel loaded = ftl::load_model(kResNet18, kCpu);
  ftl::set_training(loaded.module, true, "backbone");
  CHECK(loaded.module.is_training());
  CHECK(loaded.module.attr("fc").toModule().is_training());
  for (const auto& child : loaded.module.named_modules()) {
    if (child.name.empty() || child.name == "fc") continue;
    INFO(child.name);
    CHECK_FALSE(child.value.is_training());
  }
  ftl::set_training(loaded.module, true, "none");
  CHECK(loaded.module.attr("bn1").toModule().is_training());
  ftl::set_training(loaded.module, false, "none");
  CHECK_FALSE(loaded.module.attr("bn1").toModule().is_training());
}

TEST_CASE("model: unusable files are refused with a message naming the path", "[model]") {
  const auto& dir = odd_models();
  REQUIRE_THROWS_WITH(ftl::load_model((dir / "frozen.pt").string(), kCpu),
                      Contains((dir / "frozen.pt").string()) &&
                          Contains("no trainable parameters") && Contains("torch.jit.script"));
  REQUIRE_THROWS_WITH(ftl::load_model((dir / "no_fc.pt").string(), kCpu),
                      Contains("no 'fc' submodule"));
  const auto junk = dir / "junk.pt";
  std::ofstream(junk) << "not a zip";
  REQUIRE_THROWS_AS(ftl::load_model(junk.string(), kCpu), ftl::ModelError);
  REQUIRE_THROWS_WITH(ftl::load_model(junk.string(), kCpu),
                      Contains(junk.string() + ": not a loadable TorchScript file"));
  REQUIRE_THROWS_WITH(ftl::load_model((dir / "missing.pt").string(), kCpu),
                      (dir / "missing.pt").string() + ": no such model file");
}

TEST_CASE("model: a traced file is detected, a scripted one is not", "[model]") {
  const auto& dir = odd_models();
  CHECK(ftl::load_model((dir / "traced.pt").string(), kCpu).traced);
  CHECK_FALSE(ftl::load_model((dir / "scripted_small.pt").string(), kCpu).traced);
}
