#include "ftl/model/device.h"

#include "ftl/util/errors.h"

namespace ftl {

torch::Device resolve_device(const std::string& name, const std::string& option) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) != 0) {
    throw ConfigError(option + " must be \"cpu\", \"cuda\" or \"cuda:N\", got \"" + name + "\"");
  }
  if (!torch::cuda::is_available()) {
    throw ConfigError(option + " is \"" + name +
                      "\" but CUDA is not available: this LibTorch build has no CUDA support "
                      "or no GPU is visible; use \"cpu\"");
  }
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(name);
  } catch (const c10::Error&) {
    throw ConfigError(option + " must be \"cpu\", \"cuda\" or \"cuda:N\", got \"" + name + "\"");
  }
  const auto count = static_cast<std::int64_t>(torch::cuda::device_count());
  if (device.has_index() && device.index() >= count) {
    throw ConfigError(option + " is \"" + name + "\" but only " + std::to_string(count) +
                      " CUDA device(s) exist");
  }
  return device;
}

}  // namespace ftl
