// The network cut at its head's block: where it can be cut, that the two parts give the
// network's output, and the exact reasons where it cannot.
#include "ftl/model/network_split.h"

#include <catch2/catch.hpp>

#include "ftl/util/errors.h"

namespace {

constexpr std::int64_t kWidth = 6;
constexpr std::int64_t kClasses = 3;
constexpr std::int64_t kBatch = 4;

torch::jit::Module linear(const std::string& name, std::int64_t in, std::int64_t out) {
  torch::jit::Module layer(name);
  layer.register_parameter("weight", torch::randn({out, in}), false);
  layer.register_parameter("bias", torch::randn({out}), false);
  layer.define("def forward(self, x):\n  return torch.linear(x, self.weight, self.bias)\n");
  return layer;
}

// A network whose forward is `body` (indented TorchScript), with a `stem` Linear, and a
// `classifier` holding `hidden` (Linear) then `fc`; each test gets its own class names.
torch::jit::Module network(const std::string& name, const std::string& body) {
  torch::jit::Module classifier(name + "Classifier");
  classifier.register_module("hidden", linear(name + "Hidden", kWidth, kWidth));
  classifier.register_module("fc", linear(name + "Fc", kWidth, kClasses));
  classifier.define(
      "def forward(self, x):\n  return self.fc.forward(torch.relu(self.hidden.forward(x)))\n");
  torch::jit::Module net(name);
  net.register_module("stem", linear(name + "Stem", kWidth, kWidth));
  net.register_module("classifier", classifier);
  net.define(body);
  net.eval();
  return net;
}

ftl::Head classifier_head() {
  ftl::Head head;
  head.path = "classifier.fc";
  head.block = "classifier";
  head.in_features = kWidth;
  head.out_features = kClasses;
  return head;
}

std::string refusal(const std::string& why) {
  return "the feature cache cannot split this network at its head's block classifier: " + why +
         "; its features must be the block's input and its output what the block makes of them";
}

}  // namespace

TEST_CASE("network split: the block's input and what the block makes of it", "[network_split]") {
  // The block's call inside a method of the network's own, as ResNet's _forward_impl, with
  // work after the block (SqueezeNet's flatten): both parts are cut from forward.
  torch::jit::Module net = network("Nested",
                                   "def _impl(self, x):\n"
                                   "  x = torch.tanh(self.stem.forward(x))\n"
                                   "  return self.classifier.forward(x) * 2.0 + 1.0\n"
                                   "def forward(self, x):\n"
                                   "  assert x.size(1) == 6\n"
                                   "  return self._impl(x)\n");
  const ftl::NetworkSplit split(net, classifier_head());
  const torch::Tensor images = torch::randn({kBatch, kWidth});
  const torch::Tensor features = split.features(net, images);
  torch::jit::Module stem = net.attr("stem").toModule();
  CHECK(torch::equal(features, torch::tanh(stem.forward({images}).toTensor())));
  CHECK(torch::allclose(split.logits(net, features), net.forward({images}).toTensor()));
  // The logits part runs the block from the features alone: the input size check and the stem
  // stay with the features.
  CHECK(split.logits(net, torch::zeros({kBatch, kWidth})).sizes() ==
        torch::IntArrayRef({kBatch, kClasses}));
  // The cut serves a copy of the network: its weights, not the original's.
  torch::jit::Module copy = net.deepcopy();
  copy.attr("classifier")
      .toModule()
      .attr("fc")
      .toModule()
      .setattr("bias", torch::zeros({kClasses}));
  CHECK_FALSE(torch::allclose(split.logits(copy, features), split.logits(net, features)));
  CHECK(torch::allclose(split.logits(copy, features), copy.forward({images}).toTensor()));
}

TEST_CASE("network split: gradients reach the whole block from the features", "[network_split]") {
  torch::jit::Module net = network(
      "Grad", "def forward(self, x):\n  return self.classifier.forward(self.stem.forward(x))\n");
  for (const torch::Tensor& parameter : net.parameters()) parameter.requires_grad_(true);
  const ftl::NetworkSplit split(net, classifier_head());
  torch::Tensor features;
  {
    torch::NoGradGuard no_grad;  // as the cache computes them
    features = split.features(net, torch::randn({kBatch, kWidth}));
  }
  split.logits(net, features).sum().backward();
  for (const auto& parameter : net.named_parameters(/*recurse=*/true)) {
    INFO(parameter.name);
    CHECK(parameter.value.grad().defined() == (parameter.name.rfind("classifier.", 0) == 0));
  }
}

TEST_CASE("network split: the networks it cannot cut, and why", "[network_split]") {
  const ftl::Head head = classifier_head();
  const torch::jit::Module uncalled = network(
      "Uncalled", "def forward(self, x):\n  return torch.linear(x, self.classifier.fc.weight)\n");
  REQUIRE_THROWS_AS(ftl::NetworkSplit(uncalled, head), ftl::ModelError);
  REQUIRE_THROWS_WITH(ftl::NetworkSplit(uncalled, head), refusal("forward never calls it"));

  const torch::jit::Module twice = network("Twice",
                                           "def forward(self, x):\n"
                                           "  a = self.classifier.forward(x)\n"
                                           "  return a + self.classifier.forward(x)\n");
  REQUIRE_THROWS_WITH(ftl::NetworkSplit(twice, head), refusal("forward calls it 2 times"));

  const torch::jit::Module branch = network("Branch",
                                            "def forward(self, x):\n"
                                            "  if x.size(0) > 1:\n"
                                            "    return self.classifier.forward(x)\n"
                                            "  return x\n");
  REQUIRE_THROWS_WITH(ftl::NetworkSplit(branch, head),
                      refusal("forward calls it inside a branch or a loop"));

  const torch::jit::Module residual = network(
      "Residual", "def forward(self, x):\n  return self.classifier.forward(x) + x.mean()\n");
  REQUIRE_THROWS_WITH(ftl::NetworkSplit(residual, head),
                      refusal("its output depends on more than the block's input (forward "
                              "reads its images again after the block)"));
}
