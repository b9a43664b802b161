#include "ftl/model/inference_network.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

namespace ftl {

InferenceNetwork inference_network(const torch::jit::Module& network) {
  InferenceNetwork result;
  result.module = network;
  try {
    // Freezing inlines each submodule's forward into one graph, which needs the graph
    // optimizer on: under a caller's plain-interpreter guard (as ftl serve's pass thread and
    // the floor bench hold) the frozen graph would still call the methods freezing removed.
    torch::jit::GraphOptimizerEnabledGuard optimizer(true);
    torch::jit::Module frozen = torch::jit::freeze(network);
    // Optimises `frozen` in place and returns it: only the returned module is used.
    result.module = torch::jit::optimize_for_inference(frozen);
  } catch (const c10::Error& failure) {
    result.not_frozen_reason = failure.what_without_backtrace();
  } catch (const std::exception& failure) {  // the script compiler's ErrorReport, among others
    result.not_frozen_reason = failure.what();
  }
  return result;
}

}  // namespace ftl
