#include "ftl/train/weight_average.h"

#include <algorithm>
#include <cmath>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

/// timm's ModelEmaV3 defaults for the warmup: 1 - (1 + t / gamma)^(-power).
constexpr double kEmaWarmupGamma = 1.0;
constexpr double kEmaWarmupPower = 2.0 / 3.0;
constexpr const char* kEmaUpdatesKey = "ema/updates";

std::string ema_key(const std::string& name) { return "ema/" + name; }

}  // namespace

double ema_decay(const EmaConfig& config, std::int64_t updates) {
  const std::int64_t step = std::max<std::int64_t>(0, updates - 1);
  if (step <= 0) return 0.0;
  if (!config.warmup) return config.decay;
  const double warm =
      1.0 - std::pow(1.0 + static_cast<double>(step) / kEmaWarmupGamma, -kEmaWarmupPower);
  return std::clamp(warm, 0.0, config.decay);
}

WeightAverage::WeightAverage(const torch::jit::Module& module, const EmaConfig& config)
    : config_(config) {
  torch::NoGradGuard no_grad;
  for (const auto& parameter : module.named_parameters(/*recurse=*/true)) {
    entries_.push_back({parameter.name, true, parameter.value.detach().clone()});
  }
  for (const auto& buffer : module.named_buffers(/*recurse=*/true)) {
    entries_.push_back({buffer.name, false, buffer.value.detach().clone()});
  }
}

void WeightAverage::update(const torch::jit::Module& module) {
  torch::NoGradGuard no_grad;
  ++updates_;
  const double decay = ema_decay(config_, updates_);
  const auto parameters = module.named_parameters(/*recurse=*/true);
  const auto buffers = module.named_buffers(/*recurse=*/true);
  auto parameter = parameters.begin();
  auto buffer = buffers.begin();
  for (Entry& entry : entries_) {
    const torch::Tensor current = entry.parameter ? (*parameter++).value : (*buffer++).value;
    const bool averaged = entry.value.is_floating_point() &&
                          (entry.parameter || config_.buffers == EmaBuffers::kAverage);
    if (averaged) {
      entry.value.lerp_(current, 1.0 - decay);
    } else {
      entry.value.copy_(current);
    }
  }
}

std::map<std::string, torch::Tensor> WeightAverage::state_tensors() const {
  std::map<std::string, torch::Tensor> saved;
  for (const Entry& entry : entries_) saved[ema_key(entry.name)] = entry.value.cpu();
  saved[kEmaUpdatesKey] = torch::tensor(updates_, torch::kInt64);
  return saved;
}

void WeightAverage::load_state(const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& source) {
  const std::string where = source + ": the moving average of the weights (train.ema): ";
  const auto updates = tensors.find(kEmaUpdatesKey);
  if (updates == tensors.end()) {
    throw ModelError(where + "not saved; was the run started without train.ema?");
  }
  torch::NoGradGuard no_grad;
  for (Entry& entry : entries_) {
    const auto saved = tensors.find(ema_key(entry.name));
    if (saved == tensors.end()) throw ModelError(where + "no " + ema_key(entry.name));
    if (saved->second.sizes() != entry.value.sizes()) {
      throw ModelError(where + ema_key(entry.name) + " has another shape than the network's");
    }
    entry.value.copy_(saved->second);
  }
  updates_ = updates->second.item<std::int64_t>();
}

void WeightAverage::swap_with(torch::jit::Module& module) {
  torch::NoGradGuard no_grad;
  const auto parameters = module.named_parameters(/*recurse=*/true);
  const auto buffers = module.named_buffers(/*recurse=*/true);
  auto parameter = parameters.begin();
  auto buffer = buffers.begin();
  for (Entry& entry : entries_) {
    torch::Tensor current = entry.parameter ? (*parameter++).value : (*buffer++).value;
    const torch::Tensor held = current.clone();
    current.copy_(entry.value);
    entry.value.copy_(held);
  }
}

}  // namespace ftl
