#include "ftl/export/export_network.h"

#include <string>

#include "ftl/model/inference_network.h"
#include "ftl/util/errors.h"

namespace ftl {

torch::jit::Module export_network(const torch::jit::Module& network, Precision precision) {
  torch::jit::Module copy = network.deepcopy();
  copy.eval();
  try {
    torch::jit::Module frozen = frozen_network(copy);
    return precision == Precision::kFp32 ? frozen : bf16_network(frozen);
  } catch (const c10::Error& failure) {
    throw ModelError("cannot freeze the network for export: " +
                     std::string(failure.what_without_backtrace()));
  } catch (const std::runtime_error& failure) {  // the script compiler's ErrorReport
    throw ModelError(std::string("cannot freeze the network for export: ") + failure.what());
  }
}

}  // namespace ftl
