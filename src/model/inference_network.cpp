#include "ftl/model/inference_network.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

namespace ftl {

InferenceNetwork inference_network(const torch::jit::Module& network) {
  InferenceNetwork result;
  result.module = network;
  try {
    // Freezing inlines each submodule's forward into one graph, which needs the graph
    // optimizer on: under the plain interpreter's guard (ftl serve's pass thread) the frozen
    // graph would still call the methods that freezing removed.
    torch::jit::GraphOptimizerEnabledGuard optimizer(true);
    torch::jit::Module frozen = torch::jit::freeze(network);
    // Optimises `frozen` in place and returns it: only the returned module is used.
    result.module = torch::jit::optimize_for_inference(frozen);
    result.frozen = true;
  } catch (const c10::Error& failure) {
    result.not_frozen_reason = failure.what_without_backtrace();
  }
  return result;
}

}  // namespace ftl
