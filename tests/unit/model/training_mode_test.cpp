// set_training's modes: a Dropout that drops nothing stays in eval mode while the rest trains.
#include <catch2/catch.hpp>

#include "ftl/model/model.h"
#include "support/tiny_net.h"

namespace {

torch::jit::Module dropout(double p) {
  torch::jit::Module layer("__torch__.torch.nn.modules.dropout.Dropout");
  ftl::testing::with_training_flag(layer);
  layer.register_attribute("p", c10::FloatType::get(), p);
  layer.define("def forward(self, x):\n  return torch.dropout(x, self.p, self.training)\n");
  return layer;
}

}  // namespace

TEST_CASE("set_training: a Dropout of p = 0 stays in eval mode, one of p > 0 trains", "[model]") {
  torch::jit::Module net("__torch__.Drops");
  ftl::testing::with_training_flag(net);
  net.register_module("identity", dropout(0.0));
  net.register_module("half", dropout(0.5));
  net.define("def forward(self, x):\n  return self.half.forward(self.identity.forward(x))\n");
  for (const ftl::BatchNormPolicy policy :
       {ftl::BatchNormPolicy::kTrain, ftl::BatchNormPolicy::kFollow,
        ftl::BatchNormPolicy::kFrozen}) {
    ftl::set_training(net, true, {}, policy);
    CHECK(net.is_training());
    CHECK_FALSE(net.attr("identity").toModule().is_training());
    CHECK(net.attr("half").toModule().is_training());
  }
  // The identity is still the identity in training mode's other layers' company.
  const torch::Tensor x = torch::ones({4, 8});
  const torch::Tensor y = net.forward({x}).toTensor();
  CHECK(((y == 0) | (y == 2)).all().item<bool>());  // only p = 0.5 dropped and rescaled
  ftl::set_training(net, false, {}, ftl::BatchNormPolicy::kTrain);
  CHECK_FALSE(net.attr("half").toModule().is_training());
}
