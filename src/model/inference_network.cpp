#include "ftl/model/inference_network.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include "ftl/image/image.h"

namespace ftl {

namespace {

// Why the frozen network cannot stand in for `network` on a side x side image ("" when it
// can): it fails, or its output has another shape.
std::string probe_failure(torch::jit::Module& network, torch::jit::Module& frozen,
                          std::int64_t side) {
  torch::NoGradGuard no_grad;
  const torch::TensorOptions options =
      torch::TensorOptions().device((*network.parameters().begin()).device());
  const torch::Tensor image = torch::zeros({1, kImageChannels, side, side}, options);
  try {
    const torch::Tensor expected = network.forward({image}).toTensor();
    const torch::Tensor answer = frozen.forward({image}).toTensor();
    if (answer.sizes() == expected.sizes()) return "";
    return "answers another shape on a " + std::to_string(side) + "x" + std::to_string(side) +
           " image";
  } catch (const std::exception& failure) {  // c10::Error, or the interpreter's
    const std::string text = failure.what();
    const std::size_t end = text.find_last_not_of("\n ");
    const std::size_t start = text.rfind('\n', end);
    const std::size_t first = start == std::string::npos ? 0 : start + 1;
    return "fails on a " + std::to_string(side) + "x" + std::to_string(side) +
           " image: " + text.substr(first, end + 1 - first);
  }
}

}  // namespace

InferenceNetwork inference_network(const torch::jit::Module& network, std::int64_t probe_side) {
  InferenceNetwork result;
  result.module = network;
  try {
    // Freezing inlines each submodule's forward into one graph, which needs the graph
    // optimizer on: under a caller's plain-interpreter guard (as ftl serve's pass thread and
    // the floor bench hold) the frozen graph would still call the methods freezing removed.
    torch::jit::GraphOptimizerEnabledGuard optimizer(true);
    torch::jit::Module frozen = torch::jit::freeze(network);
    // Optimises `frozen` in place and returns it: only the returned module is used.
    torch::jit::Module optimized = torch::jit::optimize_for_inference(frozen);
    torch::jit::Module original = network;  // a handle: forward is not const
    const std::string failure =
        probe_side > 0 ? probe_failure(original, optimized, probe_side) : std::string();
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
