#include "ftl/train/training_model.h"

#include <spdlog/fmt/fmt.h>

#include "ftl/model/model.h"
#include "ftl/util/errors.h"
#include "ftl/util/text.h"

namespace ftl {

TrainingModel::TrainingModel(torch::jit::Module module, const ModelConfig& config)
    : module_(std::move(module)),
      frozen_(frozen_modules(module_, config.freeze)),
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
  return {{"phase", phase()},
          {"frozen_modules", frozen_},
          {"batchnorm", to_string(batchnorm_)},
          {"trainable_tensors", trainable_tensors}};
}

torch::jit::Module starting_network(const Config& config, const std::vector<std::string>& classes,
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
    return last->module;
  }
  LoadedModel loaded = load_model(config.model.path, device);
  if (loaded.traced) {
    log.warn(
        "{} was made by torch.jit.trace: its BatchNorm layers keep the mode they were "
        "traced in and will not train as expected; export with torch.jit.script",
        config.model.path);
  }
  log.info("model: {} (fc {} -> {} classes)", config.model.path, head_out_features(loaded.module),
           classes.size());
  replace_head(loaded.module, static_cast<std::int64_t>(classes.size()),
               static_cast<std::uint64_t>(config.train.seed));
  return loaded.module;
}

}  // namespace ftl
