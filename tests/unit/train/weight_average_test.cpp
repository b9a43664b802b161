// The moving average of the weights (train.ema) against timm's ModelEmaV3 formulas, written
// out independently here.
#include "ftl/train/weight_average.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "ftl/util/errors.h"
#include "support/tiny_net.h"

namespace {

torch::Tensor tensor_of(const torch::jit::Module& module, const std::string& child,
                        const std::string& name) {
  return module.attr(child).toModule().attr(name).toTensor();
}

// Moves every parameter and buffer of `module` by `delta` (a stand-in for an optimizer step
// and a training forward pass).
void shift(torch::jit::Module& module, double delta) {
  torch::NoGradGuard no_grad;
  for (const auto& parameter : module.named_parameters(/*recurse=*/true)) {
    parameter.value.add_(delta);
  }
  for (const auto& buffer : module.named_buffers(/*recurse=*/true)) buffer.value.add_(delta);
}

}  // namespace

TEST_CASE("ema: the decay starts at 0 and warms up as timm's ModelEmaV3", "[ema]") {
  ftl::EmaConfig config;
  config.decay = 0.999;
  CHECK(ftl::ema_decay(config, 1) == 0.0);  // the first update copies
  // t updates: 1 - (1 + (t - 1))^(-2/3), capped at the decay.
  CHECK(ftl::ema_decay(config, 2) == Approx(1.0 - std::pow(2.0, -2.0 / 3.0)));
  CHECK(ftl::ema_decay(config, 11) == Approx(1.0 - std::pow(11.0, -2.0 / 3.0)));
  CHECK(ftl::ema_decay(config, 1000000) == 0.999);
  config.warmup = false;
  CHECK(ftl::ema_decay(config, 1) == 0.0);
  CHECK(ftl::ema_decay(config, 2) == 0.999);
}

TEST_CASE("ema: parameters and BatchNorm statistics move towards the network", "[ema]") {
  torch::jit::Module net = ftl::testing::tiny_net(3, 1);
  ftl::EmaConfig config;
  config.decay = 0.9;
  config.warmup = false;
  ftl::WeightAverage average(net, config);
  const torch::Tensor start = tensor_of(net, "fc", "weight").clone();
  const torch::Tensor mean_start = tensor_of(net, "bn1", "running_mean").clone();

  shift(net, 1.0);
  average.update(net);  // decay 0: a copy
  shift(net, 1.0);
  average.update(net);  // decay 0.9: ema + 0.1 (weights - ema)
  CHECK(average.updates() == 2);
  const auto state = average.state_tensors();
  CHECK(state.at("ema/fc.weight").allclose(start + 1.0 + 0.1, 1e-6, 1e-6));
  CHECK(state.at("ema/bn1.running_mean").allclose(mean_start + 1.1, 1e-6, 1e-6));
  CHECK(state.at("ema/updates").item<std::int64_t>() == 2);

  // "copy": the statistics follow the network, the weights are averaged.
  config.buffers = ftl::EmaBuffers::kCopy;
  torch::jit::Module other = ftl::testing::tiny_net(3, 1);
  ftl::WeightAverage copying(other, config);
  shift(other, 1.0);
  copying.update(other);
  shift(other, 1.0);
  copying.update(other);
  const auto copied = copying.state_tensors();
  CHECK(copied.at("ema/bn1.running_mean").equal(tensor_of(other, "bn1", "running_mean")));
  CHECK(copied.at("ema/fc.weight").allclose(start + 1.1, 1e-6, 1e-6));
}

TEST_CASE("ema: swapping twice restores the network, and the state round-trips", "[ema]") {
  torch::jit::Module net = ftl::testing::tiny_net(3, 1);
  ftl::EmaConfig config;
  config.decay = 0.5;
  ftl::WeightAverage average(net, config);
  shift(net, 1.0);
  average.update(net);
  shift(net, 1.0);
  average.update(net);
  const torch::Tensor trained = tensor_of(net, "fc", "weight").clone();
  // state_tensors() gives the average itself on the CPU, not a copy: the swap moves it.
  const torch::Tensor averaged = average.state_tensors().at("ema/fc.weight").clone();
  {
    ftl::AveragedWeightsScope scope(average, net);
    CHECK(tensor_of(net, "fc", "weight").equal(averaged));
  }
  CHECK(tensor_of(net, "fc", "weight").equal(trained));

  ftl::WeightAverage restored(ftl::testing::tiny_net(3, 2), config);
  restored.load_state(average.state_tensors(), "last.pt");
  CHECK(restored.updates() == 2);
  CHECK(restored.state_tensors().at("ema/fc.weight").equal(averaged));

  CHECK_THROWS_WITH(restored.load_state({}, "last.pt"),
                    "last.pt: the moving average of the weights (train.ema): not saved; was the "
                    "run started without train.ema?");
  auto wrong = average.state_tensors();
  wrong["ema/fc.weight"] = torch::zeros({2, 2});
  CHECK_THROWS_WITH(restored.load_state(wrong, "last.pt"),
                    "last.pt: the moving average of the weights (train.ema): ema/fc.weight has "
                    "another shape than the network's");
}
