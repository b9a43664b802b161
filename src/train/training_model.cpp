#include "ftl/train/training_model.h"

#include <spdlog/fmt/fmt.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include "ftl/model/family.h"
#include "ftl/model/model.h"
#include "ftl/model/probe.h"
#include "ftl/model/run_layout.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"
#include "ftl/util/text.h"

namespace ftl {

TrainingModel::TrainingModel(torch::jit::Module module, Head head, const ModelConfig& config)
    : module_(std::move(module)),
      head_(std::move(head)),
      frozen_(frozen_modules(module_, head_, config.freeze)),
      batchnorm_(config.batchnorm) {}

void TrainingModel::set_mode(bool training) {
  set_training(module_, training, frozen_, batchnorm_);
}

std::vector<torch::jit::NameTensor> TrainingModel::trainable() {
  return configure_trainable(module_, frozen_);
}

std::vector<torch::jit::NameTensor> TrainingModel::unfreeze() {
  std::vector<torch::jit::NameTensor> newly_trainable;
  for (const torch::jit::NameTensor& parameter : module_.named_parameters(/*recurse=*/true)) {
    if (!parameter.value.requires_grad()) newly_trainable.push_back(parameter);
  }
  frozen_.clear();
  configure_trainable(module_, frozen_);
  return newly_trainable;
}

nlohmann::json TrainingModel::training_json(std::size_t trainable_tensors) const {
  nlohmann::json json = {{"phase", phase()},
                         {"frozen_modules", frozen_},
                         {"batchnorm", to_string(batchnorm_)},
                         {"trainable_tensors", trainable_tensors}};
  json.update(head_.to_json());
  return json;
}

namespace {

// ViT and MaxViT are built for one input size: another fails deep inside their forward.
void check_input_size(const torch::jit::Module& network, const Config& config) {
  const Family* family = find_family(network);
  if (family == nullptr) return;
  const std::int64_t side = fixed_input_size(network, *family);
  const std::int64_t configured = config.data.preprocess.image_size;
  if (side == 0 || side == configured) return;
  throw ConfigError(
      fmt::format("data.image_size {}: model.path {} is a {}, which takes {}x{} inputs only; set "
                  "data.image_size {}",
                  configured, config.model.path, family->name, side, side, side));
}

// A network that cannot take data.image_size (AlexNet under 63 px, VGG under 32) fails deep in
// its first training step; one probe pass at start-up turns that into an error that names the
// key.
void check_forward(const torch::jit::Module& network, const Config& config, std::int64_t classes,
                   const torch::Device& device) {
  const std::int64_t side = config.data.preprocess.image_size;
  const ProbeResult answer = probe(network, side, device);
  std::string failure = answer.failure;
  if (failure.empty() && answer.output.sizes() != torch::IntArrayRef({1, classes})) {
    failure = "its output is not the expected 1x" + std::to_string(classes) + " logits";
  }
  if (failure.empty()) return;
  throw ConfigError(fmt::format("data.image_size {}: model.path {} fails on a {}x{} image: {}",
                                side, config.model.path, side, side, failure));
}

bool has_layer_norm(const torch::jit::Module& network) {
  for (const torch::jit::NameModule& child : network.named_modules()) {
    if (network_class(child.value).find("LayerNorm") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

StartingNetwork starting_network(const Config& config, const std::vector<std::string>& classes,
                                 const Checkpoint* last, const TrainState& state,
                                 const torch::Device& device, spdlog::logger& log) {
  if (last != nullptr) {
    if (last->metadata.classes != classes) {
      throw DataError(config.data.train + ": classes (" + join(classes) +
                      ") differ from those of the run being resumed (" +
                      join(last->metadata.classes) + ")");
    }
    log.info("resuming {} after epoch {}{}", config.output.dir, state.epochs_done,
             state.steps_done > 0
                 ? fmt::format(" and {} steps of epoch {}", state.steps_done, state.epochs_done + 1)
                 : "");
    check_input_size(last->module, config);
    return {last->module, checkpoint_head(*last, kLastName)};
  }
  LoadedModel loaded =
      load_model(config.model.path, device, config.model.head, config.data.preprocess.image_size);
  if (loaded.traced) {
    log.warn(
        "{} was made by torch.jit.trace: its BatchNorm layers keep the mode they were "
        "traced in and will not train as expected; export with torch.jit.script",
        config.model.path);
  }
  check_input_size(loaded.module, config);
  const Head head =
      replace_head(loaded.module, loaded.head, static_cast<std::int64_t>(classes.size()),
                   static_cast<std::uint64_t>(config.train.seed));
  check_forward(loaded.module, config, static_cast<std::int64_t>(classes.size()), device);
  log.info(
      "model: {}: {}, head {}, was {} outputs{}", config.model.path,
      head.family.empty() ? "network of class " + network_class(loaded.module) : head.family,
      head.describe(), loaded.head.out_features,
      head.dropout.empty() ? "" : fmt::format("; its Dropout {} trains with it", head.dropout));
  if (config.model.freeze.kind == FreezePolicy::Kind::kBackbone) {
    log.info("model.freeze \"backbone\": all but {} is frozen; it trains whole, as in Python: {}",
             head.block, block_layers(loaded.module, head));
  }
  if (!has_batchnorm(loaded.module)) {
    log.info("model.batchnorm \"{}\" has nothing to hold: the network has no BatchNorm layer{}",
             to_string(config.model.batchnorm),
             has_layer_norm(loaded.module) ? " (it normalises with LayerNorm)" : "");
  }
  return {loaded.module, head};
}

TrainingCompute start_training_compute(const TrainConfig& train, const torch::Device& device,
                                       bool deterministic, std::uint64_t seed) {
  configure_determinism(deterministic);
  torch::manual_seed(seed);
  TrainingCompute compute;
  compute.threads = configure_compute_threads(train.threads);
  compute.mode = resolve_compute_mode(train.precision, train.memory_format, device, cpu_has_bf16());
  // The JIT's graph optimizer turns a scripted network's training graph into differentiable
  // subgraphs, whose backward on a CPU costs more than the plain interpreter's autograd of each
  // op (a training step at batch 8, 224 px, against eager PyTorch's: Swin-T 1.58x optimized,
  // 1.01x plain; ViT-B/16 1.08x and 0.90x; ResNet-50 0.99x and 0.95x; scripts/profile/
  // backbone.py [--plain]). It stays on for CUDA (its fusers) and for bf16, whose autocast the
  // optimizer applies to the graph: the plain interpreter's autocast is eager PyTorch 1.13's,
  // which fails on ConvNeXt's and Swin's layer_norm.
  if (!device.is_cuda() && !compute.mode.bf16) torch::jit::setGraphExecutorOptimize(false);
  return compute;
}

}  // namespace ftl
