#include "ftl/export/export_network.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <string>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

// Runs the bf16 network on float32 images and hands back float32 logits, so that the file
// answers the same inputs as the fp32 export and a caller never sees a bf16 tensor. The dtype
// goes in as its number: a method defined from C++ cannot name torch.bfloat16.
std::string bf16_forward() {
  return "def forward(self, images: Tensor) -> Tensor:\n"
         "    return self.network.forward(images.to(" +
         std::to_string(static_cast<int>(torch::kBFloat16)) + ")).float()\n";
}

}  // namespace

torch::jit::Module export_network(const torch::jit::Module& network, ExportPrecision precision) {
  torch::jit::Module copy = network.deepcopy();
  copy.eval();
  torch::jit::Module exported = copy;
  try {
    if (precision == ExportPrecision::kBf16) {
      copy.to(torch::kBFloat16);
      exported = torch::jit::Module("__torch__.ftl.Bf16Classifier");
      exported.register_module("network", copy);
      exported.define(bf16_forward());  // no training flag of its own: nothing to set
    }
    // Freezing inlines the submodules' methods into one graph, which needs the graph
    // optimizer on whatever guard a caller holds.
    torch::jit::GraphOptimizerEnabledGuard optimizer(true);
    return torch::jit::freeze(exported);
  } catch (const c10::Error& failure) {
    throw ModelError("cannot freeze the network for export: " +
                     std::string(failure.what_without_backtrace()));
  } catch (const std::runtime_error& failure) {  // the script compiler's ErrorReport
    throw ModelError(std::string("cannot freeze the network for export: ") + failure.what());
  }
}

}  // namespace ftl
