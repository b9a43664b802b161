#include "ftl/model/probe.h"

#include "ftl/image/image.h"
#include "ftl/util/subprocess.h"  // last_line: the line an interpreter error ends on

namespace ftl {

KeepModes::KeepModes(const torch::jit::Module& network) {
  for (const torch::jit::NameModule& child : network.named_modules()) {
    // A frozen network (an ftl export) has no training flag to keep.
    if (child.value.hasattr("training"))
      modes_.emplace_back(child.value, child.value.is_training());
  }
}

KeepModes::~KeepModes() {
  // Pre-order: each parent's recursive train() comes before its children's own flags.
  for (std::pair<torch::jit::Module, bool>& mode : modes_) mode.first.train(mode.second);
}

torch::Device parameter_device(const torch::jit::Module& network) {
  for (const torch::Tensor& parameter : network.parameters()) return parameter.device();
  return torch::kCPU;
}

ProbeResult probe(const torch::jit::Module& network, std::int64_t side,
                  const torch::Device& device) {
  torch::jit::Module handle = network;  // the same module: forward is not const
  const KeepModes keep(handle);
  if (handle.hasattr("training")) handle.eval();
  ProbeResult result;
  try {
    torch::NoGradGuard no_grad;
    const c10::IValue output = handle.forward(
        {torch::zeros({1, kImageChannels, side, side}, torch::TensorOptions(device))});
    if (output.isTensor()) {
      result.output = output.toTensor();
    } else {
      result.failure = "it answers a " + output.tagKind() + ", not a tensor";
    }
  } catch (const c10::Error& error) {
    result.failure = last_line(error.what_without_backtrace());
  } catch (const std::runtime_error& error) {  // the interpreter's, with its traceback
    result.failure = last_line(error.what());
  }
  return result;
}

}  // namespace ftl
