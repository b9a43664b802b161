#include "ftl/eval/inference_options.h"

#include "ftl/model/device.h"

namespace ftl {

torch::Device inference_device(const InferenceOptions& options) {
  const torch::Device device = resolve_device(options.device, "device");
  check_bf16_support("precision", options.precision, device, options.cpuinfo);
  return device;
}

InferenceNetwork prepare_inference_network(const Checkpoint& checkpoint,
                                           const InferenceOptions& options, std::size_t images,
                                           spdlog::logger& log) {
  if (images < kFreezeFromImages) {
    InferenceNetwork loaded;
    loaded.module = checkpoint.module;
    loaded.not_frozen_reason = "fewer than " + std::to_string(kFreezeFromImages) +
                               " images: freezing would cost more than it saves";
    log.debug("network run as loaded: {}", loaded.not_frozen_reason);
    return loaded;
  }
  InferenceNetwork network = inference_network(
      checkpoint.module, checkpoint.metadata.preprocess.image_size, options.precision);
  if (network.frozen()) {
    log.debug("network frozen for inference in {} (BatchNorm folded into the convolutions)",
              to_string(options.precision));
  } else {
    log.warn("the network could not be frozen for inference, so it runs as loaded{}, slower: {}",
             network.needs_autocast() ? " under bf16 autocast" : "", network.not_frozen_reason);
  }
  return network;
}

}  // namespace ftl
