// A small network of ResNet's shape, built in C++ as a TorchScript module: children `stem`
// (linear over the flattened image), `bn1` (a BatchNorm1d by type name, so that the BatchNorm
// policy applies to it) and the head `fc`. Unit tests train, freeze, save and extract features
// with it in milliseconds, without the Python ResNet-18 fixture.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>

namespace ftl::testing {

inline constexpr std::int64_t kTinyNetSide = 8;  // input images: 8x8, ftl's smallest
inline constexpr std::int64_t kTinyNetInputs = 3 * kTinyNetSide * kTinyNetSide;  // RGB, flat
inline constexpr std::int64_t kTinyNetHidden = 6;                                // fc's input width

/// nn.Module's `training` attribute, which train()/eval() and BatchNorm's forward read.
inline void with_training_flag(torch::jit::Module& module) {
  module.register_attribute("training", c10::BoolType::get(), true);
}

/// A module of class `type` with a weight [out, in] and a bias [out], applying them linearly.
inline torch::jit::Module tiny_linear(const std::string& type, std::int64_t in, std::int64_t out) {
  torch::jit::Module linear("__torch__.torch.nn.modules.linear." + type);
  with_training_flag(linear);
  linear.register_parameter("weight", torch::randn({out, in}) / std::sqrt(double(in)), false);
  linear.register_parameter("bias", torch::zeros({out}), false);
  linear.define("def forward(self, x):\n  return torch.linear(x, self.weight, self.bias)\n");
  return linear;
}

/// A BatchNorm1d over `features` with running statistics, as torch.nn.BatchNorm1d computes it.
inline torch::jit::Module tiny_batchnorm(std::int64_t features) {
  torch::jit::Module bn("__torch__.torch.nn.modules.batchnorm.BatchNorm1d");
  with_training_flag(bn);
  bn.register_parameter("weight", torch::ones({features}), false);
  bn.register_parameter("bias", torch::zeros({features}), false);
  bn.register_buffer("running_mean", torch::zeros({features}));
  bn.register_buffer("running_var", torch::ones({features}));
  bn.define(
      "def forward(self, x):\n"
      "  return torch.batch_norm(x, self.weight, self.bias, self.running_mean, "
      "self.running_var, self.training, 0.1, 1e-5, False)\n");
  return bn;
}

/// The network, with `classes` outputs, its weights drawn from `seed`.
inline torch::jit::Module tiny_net(std::int64_t classes, std::uint64_t seed = 0) {
  torch::manual_seed(seed);
  torch::jit::Module net("__torch__.TinyNet");
  with_training_flag(net);
  net.register_module("stem", tiny_linear("Linear", kTinyNetInputs, kTinyNetHidden));
  net.register_module("bn1", tiny_batchnorm(kTinyNetHidden));
  net.register_module("fc", tiny_linear("Linear", kTinyNetHidden, classes));
  net.define(
      "def forward(self, x):\n"
      "  return self.fc.forward(torch.relu(self.bn1.forward(self.stem.forward(torch.flatten(x, "
      "1)))))\n");
  net.eval();
  return net;
}

}  // namespace ftl::testing
