#include "ftl/model/inference_network.h"

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
