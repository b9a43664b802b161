#include "ftl/model/inference_network.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <catch2/catch.hpp>

namespace {

using Catch::Matchers::Contains;

// A convolution followed by a BatchNorm2d with non-trivial statistics, as in every ResNet
// block: the pair that freezing folds into one convolution.
torch::jit::Module conv_then_batchnorm(bool training) {
  torch::manual_seed(3);
  torch::jit::Module net("__torch__.ConvBn");
  net.register_attribute("training", c10::BoolType::get(), training);
  net.register_parameter("weight", torch::randn({4, 3, 3, 3}), false);
  net.register_parameter("bn_weight", torch::rand({4}) + 0.5, false);
  net.register_parameter("bn_bias", torch::randn({4}), false);
  net.register_buffer("running_mean", torch::randn({4}));
  net.register_buffer("running_var", torch::rand({4}) + 0.5);
  net.define(R"(
def forward(self, x):
  y = torch.conv2d(x, self.weight, None, [1, 1], [1, 1])
  return torch.batch_norm(y, self.bn_weight, self.bn_bias, self.running_mean,
                          self.running_var, False, 0.1, 1e-5, False)
)");
  return net;
}

bool has_node(torch::jit::Module& module, const char* kind) {
  for (const torch::jit::Node* node : module.get_method("forward").graph()->nodes()) {
    if (std::string(node->kind().toQualString()) == kind) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("inference network: frozen with BatchNorm folded, the same answers, the original kept",
          "[inference]") {
  torch::jit::Module loaded = conv_then_batchnorm(/*training=*/false);
  // As ftl serve's pass thread and the floor bench call it: under the plain interpreter,
  // which freezing must turn off for itself.
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);
  ftl::InferenceNetwork network = ftl::inference_network(loaded);
  REQUIRE(network.frozen());
  CHECK(network.not_frozen_reason.empty());
  CHECK(has_node(loaded, "aten::batch_norm"));
  CHECK_FALSE(has_node(network.module, "aten::batch_norm"));
  torch::NoGradGuard no_grad;
  for (std::int64_t batch : {1, 3}) {
    const torch::Tensor x = torch::randn({batch, 3, 6, 6});
    const torch::Tensor expected = loaded.forward({x}).toTensor();
    const torch::Tensor answer = network.module.forward({x}).toTensor();
    CHECK(answer.sizes() == expected.sizes());
    CHECK(torch::allclose(answer, expected, 1e-5, 1e-5));
  }
}

TEST_CASE("inference network: a network that cannot be frozen runs as it is, with the reason",
          "[inference]") {
  torch::jit::Module training = conv_then_batchnorm(/*training=*/true);
  ftl::InferenceNetwork network = ftl::inference_network(training);
  CHECK_FALSE(network.frozen());
  CHECK_THAT(network.not_frozen_reason, Contains("eval mode"));
  CHECK(has_node(network.module, "aten::batch_norm"));
  torch::NoGradGuard no_grad;
  CHECK(network.module.forward({torch::randn({1, 3, 6, 6})}).toTensor().size(1) == 4);
}

TEST_CASE("inference network: a frozen network that fails at the probe size is not used",
          "[inference]") {
  // Adaptive pooling from 2x2 to 3x3: the plain network takes it, oneDNN's layout does not.
  torch::manual_seed(5);
  torch::jit::Module net("__torch__.ConvPool");
  net.register_attribute("training", c10::BoolType::get(), false);
  net.register_parameter("weight", torch::randn({4, 3, 3, 3}), false);
  net.define(R"(
def forward(self, x):
  y = torch.conv2d(x, self.weight, None, [1, 1], [1, 1])
  return torch.flatten(torch.adaptive_avg_pool2d(y, [3, 3]), 1)
)");
  const ftl::InferenceNetwork unprobed = ftl::inference_network(net);
  CHECK(unprobed.frozen());
  ftl::InferenceNetwork probed = ftl::inference_network(net, /*probe_side=*/2);
  CHECK_FALSE(probed.frozen());
  CHECK_THAT(probed.not_frozen_reason,
             Contains("the frozen network fails on a 2x2 image: RuntimeError: input size is not "
                      "divisible by the output size is not supported"));
  torch::NoGradGuard no_grad;
  CHECK(probed.module.forward({torch::randn({1, 3, 2, 2})}).toTensor().size(1) == 36);
  CHECK(ftl::inference_network(net, /*probe_side=*/6).frozen());  // 6x6 to 3x3 divides
}

TEST_CASE("inference network: bf16 rounds the folded weights and answers float32 close to fp32",
          "[inference]") {
  torch::jit::Module loaded = conv_then_batchnorm(/*training=*/false);
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);
  ftl::InferenceNetwork network =
      ftl::inference_network(loaded, /*probe_side=*/6, ftl::Precision::kBf16);
  REQUIRE(network.frozen());
  CHECK(network.precision == ftl::Precision::kBf16);
  CHECK_FALSE(network.needs_autocast());
  CHECK_THAT(network.module.type()->name()->qualifiedName(), Contains("Bf16Classifier"));
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 3, 6, 6});
  const torch::Tensor expected = loaded.forward({x}).toTensor();
  const torch::Tensor answer = network.module.forward({x}).toTensor();
  CHECK(answer.scalar_type() == torch::kFloat32);
  REQUIRE(answer.sizes() == expected.sizes());
  // bf16 keeps 8 bits of mantissa: each output moves by a few parts in a thousand of the
  // outputs' scale, and not by nothing (it did compute in bf16).
  const double scale = expected.abs().max().item<double>();
  const double difference = (answer - expected).abs().max().item<double>();
  CHECK(difference < 2e-2 * scale);
  CHECK(difference > 0);
}

TEST_CASE("inference network: a bf16 network that cannot be made runs as loaded under autocast",
          "[inference]") {
  const ftl::InferenceNetwork network = ftl::inference_network(
      conv_then_batchnorm(/*training=*/true), /*probe_side=*/0, ftl::Precision::kBf16);
  CHECK_FALSE(network.frozen());
  CHECK(network.needs_autocast());
  CHECK_FALSE(ftl::inference_network(conv_then_batchnorm(/*training=*/true)).needs_autocast());
}
