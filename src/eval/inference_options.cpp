#include "ftl/eval/inference_options.h"

#include "ftl/model/device.h"

namespace ftl {
namespace {

// What the log adds of a network run as loaded: whether autocast makes it compute in bf16.
const char* autocast_note(const InferenceNetwork& network) {
  return network.needs_autocast() ? " under bf16 autocast" : "";
}

}  // namespace

torch::Device inference_device(const InferenceCompute& compute) {
  const torch::Device resolved = resolve_device(compute.device, "device");
  check_bf16_support("precision", compute.precision, resolved, compute.cpuinfo);
  return resolved;
}

InferenceNetwork prepare_inference_network(const Checkpoint& checkpoint,
                                           const InferenceOptions& options, std::size_t images,
                                           spdlog::logger& log) {
  if (images < kFreezeFromImages) {
    InferenceNetwork loaded;
    loaded.module = checkpoint.module;
    loaded.precision = options.precision;  // bf16 then computes by autocast
    loaded.not_frozen_reason = "fewer than " + std::to_string(kFreezeFromImages) +
                               " images: freezing would cost more than it saves";
    log.debug("network run as loaded{}: {}", autocast_note(loaded), loaded.not_frozen_reason);
    return loaded;
  }
  InferenceNetwork network = inference_network(
      checkpoint.module, checkpoint.metadata.preprocess.image_size, options.precision);
  log_inference_network(network, "", log);
  return network;
}

void log_inference_network(const InferenceNetwork& network, const std::string& prefix,
                           spdlog::logger& log) {
  if (network.frozen()) {
    log.debug("{}network frozen for inference in {} (BatchNorm folded into the convolutions)",
              prefix, to_string(network.precision));
  } else {
    log.warn("{}the network could not be frozen for inference, so it runs as loaded{}, slower: {}",
             prefix, autocast_note(network), network.not_frozen_reason);
  }
}

}  // namespace ftl
