#include "ftl/model/inference_network.h"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include "ftl/model/probe.h"

namespace ftl {

namespace {

// Why the frozen network cannot stand in for `network` on a side x side image ("" when it
// can): it fails, or it answers another shape.
std::string probe_failure(const torch::jit::Module& network, const torch::jit::Module& frozen,
                          std::int64_t side) {
  const std::string at = " on a " + std::to_string(side) + "x" + std::to_string(side) + " image";
  const torch::Device device = parameter_device(network);  // the frozen one's are constants
  const ProbeResult expected = probe(network, side, device);
  const ProbeResult answer = probe(frozen, side, device);
  if (!answer.failure.empty()) return "fails" + at + ": " + answer.failure;
  if (!expected.failure.empty() || answer.output.sizes() == expected.output.sizes()) return "";
  return "answers another shape" + at;
}

// Runs the bf16 network on float32 images and hands back float32 logits. The dtype goes in as
// its number: a method defined from C++ cannot name torch.bfloat16.
std::string bf16_forward() {
  return "def forward(self, images: Tensor) -> Tensor:\n"
         "    return self.network.forward(images.to(" +
         std::to_string(static_cast<int>(torch::kBFloat16)) + ")).float()\n";
}

// Each floating constant of a frozen graph (its weights, BatchNorm already folded into them in
// fp32) rounded to bf16 once. Rounding before freezing would fold in bf16: on the demo's
// ResNet-18 that moved a probability by 5.5e-2 against 1.8e-2 this way (5,000 test images).
void constants_to_bf16(torch::jit::Graph& graph) {
  for (torch::jit::Node* node : graph.nodes()) {  // freezing leaves the constants at the top
    if (node->kind() != c10::prim::Constant || !node->hasAttribute(c10::attr::value) ||
        node->output()->type()->kind() != c10::TypeKind::TensorType) {
      continue;
    }
    const at::Tensor value = node->t(c10::attr::value);
    if (!value.is_floating_point()) continue;
    const at::Tensor rounded = value.to(torch::kBFloat16);
    node->t_(c10::attr::value, rounded);
    node->output()->inferTypeFrom(rounded);
  }
}

// The frozen network at `precision`, oneDNN's layouts applied to the fp32 one. The bf16 one
// keeps the frozen graph: optimize_for_inference made it no faster here (6.8 against 6.5 ms
// for one 224-px ResNet-18 image, scripts/bench/export.sh).
torch::jit::Module optimized_network(const torch::jit::Module& network, Precision precision) {
  torch::jit::Module frozen = frozen_network(network);
  if (precision == Precision::kBf16) return bf16_network(frozen);
  // Optimises `frozen` in place and returns it: only the returned module is used.
  return torch::jit::optimize_for_inference(frozen);
}

}  // namespace

torch::jit::Module frozen_network(const torch::jit::Module& network) {
  // Freezing inlines each submodule's forward into one graph, which needs the graph optimizer
  // on: under a caller's plain-interpreter guard (as ftl serve's pass thread and the floor
  // bench hold) the frozen graph would still call the methods freezing removed.
  torch::jit::GraphOptimizerEnabledGuard optimizer(true);
  return torch::jit::freeze(network);
}

torch::jit::Module bf16_network(torch::jit::Module frozen) {
  torch::jit::GraphOptimizerEnabledGuard optimizer(true);
  constants_to_bf16(*frozen.get_method("forward").graph());
  torch::jit::Module wrapper("__torch__.ftl.Bf16Classifier");
  wrapper.register_module("network", frozen);
  wrapper.define(bf16_forward());  // no training flag of its own: nothing to set
  return torch::jit::freeze(wrapper);
}

InferenceNetwork inference_network(const torch::jit::Module& network, std::int64_t probe_side,
                                   Precision precision) {
  InferenceNetwork result;
  result.module = network;
  result.precision = precision;
  try {
    const torch::jit::Module optimized = optimized_network(network, precision);
    const std::string failure =
        probe_side > 0 ? probe_failure(network, optimized, probe_side) : std::string();
    if (failure.empty()) {
      result.module = optimized;
    } else {
      result.not_frozen_reason = "the frozen network " + failure;
    }
  } catch (const c10::Error& failure) {
    result.not_frozen_reason = failure.what_without_backtrace();
  } catch (const std::exception& failure) {  // the script compiler's ErrorReport, among others
    result.not_frozen_reason = failure.what();
  }
  return result;
}

}  // namespace ftl
