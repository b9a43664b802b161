#include "ftl/train/optimizer.h"

#include <sstream>
#include <string>
#include <type_traits>

#include "ftl/model/model.h"
#include "ftl/util/errors.h"

namespace ftl {
namespace {

// Key of the momentum buffers in the saved tensors.
std::string momentum_key(const std::string& parameter) { return "momentum/" + parameter; }

/// The key type of an optimizer's per-parameter state: the printed TensorImpl address
/// (std::string) before LibTorch 2.0, the address itself (void*) since.
using StateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

// LibTorch keys an optimizer's per-parameter state by the tensor's implementation pointer; a
// template, so that only the branch of the LibTorch at hand is compiled.
template <typename Key = StateKey>
Key state_key(const torch::Tensor& parameter) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream address;  // as LibTorch 1.x prints it (c10::guts::to_string)
    address << parameter.unsafeGetTensorImpl();
    return address.str();
  } else {
    return parameter.unsafeGetTensorImpl();
  }
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return nlohmann::json(shape).dump();
}

// An SGD with no groups yet: the constructor adds them, each with its own options.
torch::optim::SGD make_sgd(const Config& config) {
  return torch::optim::SGD(std::vector<torch::optim::OptimizerParamGroup>{},
                           torch::optim::SGDOptions(config.optimizer.lr)
                               .momentum(config.optimizer.momentum)
                               .weight_decay(config.optimizer.weight_decay)
                               .nesterov(config.optimizer.nesterov));
}

}  // namespace

TrainingOptimizer::TrainingOptimizer(const std::vector<torch::jit::NameTensor>& trainable,
                                     const Config& config)
    : config_(config), sgd_(make_sgd(config)) {
  std::vector<torch::jit::NameTensor> head;
  std::vector<torch::jit::NameTensor> backbone;
  for (const torch::jit::NameTensor& parameter : trainable) {
    (is_head_parameter(parameter.name) ? head : backbone).push_back(parameter);
  }
  add_groups(head, "head", 1.0);
  add_groups(backbone, "backbone", config.model.backbone_lr_mult);
}

void TrainingOptimizer::add(const std::vector<torch::jit::NameTensor>& parameters,
                            const std::string& prefix) {
  add_groups(parameters, prefix, config_.model.backbone_lr_mult);
}

void TrainingOptimizer::add_groups(const std::vector<torch::jit::NameTensor>& parameters,
                                   const std::string& prefix, double lr_mult) {
  const bool split = config_.optimizer.weight_decay > 0 && config_.optimizer.no_decay_bn_bias;
  for (const bool decayed : {true, false}) {
    ParamGroup group{decayed ? prefix : prefix + "_no_decay", lr_mult, {}};
    std::vector<torch::Tensor> tensors;
    for (const torch::jit::NameTensor& parameter : parameters) {
      // timm's rule: tensors of one dimension are biases and normalisation weights.
      const bool decays = !split || parameter.value.dim() > 1;
      if (decays != decayed) continue;
      group.parameters.push_back(parameter.name);
      tensors.push_back(parameter.value);
    }
    if (tensors.empty()) continue;
    auto options = std::make_unique<torch::optim::SGDOptions>(config_.optimizer.lr * lr_mult);
    options->momentum(config_.optimizer.momentum)
        .weight_decay(decayed ? config_.optimizer.weight_decay : 0.0)
        .nesterov(config_.optimizer.nesterov);
    sgd_.add_param_group(torch::optim::OptimizerParamGroup(tensors, std::move(options)));
    groups_.push_back(group);
    tensors_.push_back(tensors);
  }
}

void TrainingOptimizer::set_lr(double lr) {
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    sgd_.param_groups()[i].options().set_lr(lr * groups_[i].lr_mult);
  }
}

std::size_t TrainingOptimizer::num_parameters() const {
  std::size_t count = 0;
  for (const auto& tensors : tensors_) count += tensors.size();
  return count;
}

std::vector<torch::Tensor> TrainingOptimizer::parameters() const {
  std::vector<torch::Tensor> all;
  for (const auto& tensors : tensors_) all.insert(all.end(), tensors.begin(), tensors.end());
  return all;
}

nlohmann::json TrainingOptimizer::state_json() const {
  nlohmann::json groups = nlohmann::json::array();
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    nlohmann::json parameters = nlohmann::json::array();
    for (std::size_t j = 0; j < groups_[i].parameters.size(); ++j) {
      parameters.push_back(
          {{"name", groups_[i].parameters[j]}, {"shape", tensors_[i][j].sizes().vec()}});
    }
    groups.push_back({{"name", groups_[i].name},
                      {"lr", sgd_.param_groups()[i].options().get_lr()},
                      {"lr_mult", groups_[i].lr_mult},
                      {"parameters", parameters}});
  }
  return {{"groups", groups}};
}

std::map<std::string, torch::Tensor> TrainingOptimizer::state_tensors() const {
  std::map<std::string, torch::Tensor> saved;
  const auto& state = sgd_.state();
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    for (std::size_t j = 0; j < groups_[i].parameters.size(); ++j) {
      const auto found = state.find(state_key(tensors_[i][j]));
      if (found == state.end()) continue;  // no step has updated it yet
      const auto& sgd_state = static_cast<const torch::optim::SGDParamState&>(*found->second);
      if (!sgd_state.momentum_buffer().defined()) continue;
      saved[momentum_key(groups_[i].parameters[j])] = sgd_state.momentum_buffer().cpu();
    }
  }
  return saved;
}

void TrainingOptimizer::load_state(const nlohmann::json& state,
                                   const std::map<std::string, torch::Tensor>& tensors,
                                   const std::string& source) {
  const std::string where = source + ": optimizer state does not match the network: ";
  const nlohmann::json& groups = state.at("groups");
  if (groups.size() != groups_.size()) {
    throw ModelError(where + std::to_string(groups.size()) + " parameter groups saved, " +
                     std::to_string(groups_.size()) + " here");
  }
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    const nlohmann::json& saved = groups[i];
    const std::string name = saved.at("name").get<std::string>();
    const nlohmann::json& parameters = saved.at("parameters");
    if (name != groups_[i].name || parameters.size() != groups_[i].parameters.size()) {
      throw ModelError(where + "group " + std::to_string(i) + " is '" + name + "' with " +
                       std::to_string(parameters.size()) + " parameters saved, '" +
                       groups_[i].name + "' with " + std::to_string(groups_[i].parameters.size()) +
                       " here");
    }
    for (std::size_t j = 0; j < parameters.size(); ++j) {
      const auto saved_name = parameters[j].at("name").get<std::string>();
      const auto saved_shape = parameters[j].at("shape").get<std::vector<std::int64_t>>();
      const torch::Tensor& parameter = tensors_[i][j];
      if (saved_name != groups_[i].parameters[j] || saved_shape != parameter.sizes().vec()) {
        throw ModelError(where + "group '" + name + "' parameter " + std::to_string(j) + " is " +
                         saved_name + " " + shape_text(saved_shape) + " saved, " +
                         groups_[i].parameters[j] + " " + shape_text(parameter.sizes().vec()) +
                         " here");
      }
      const auto buffer = tensors.find(momentum_key(saved_name));
      if (buffer == tensors.end()) continue;
      if (buffer->second.sizes() != parameter.sizes()) {
        throw ModelError(where + "the momentum of " + saved_name + " has shape " +
                         shape_text(buffer->second.sizes().vec()));
      }
      auto sgd_state = std::make_unique<torch::optim::SGDParamState>();
      sgd_state->momentum_buffer(buffer->second.to(parameter.device()).clone());
      sgd_.state()[state_key(parameter)] = std::move(sgd_state);
    }
    // LibTorch's own optimizer loading does not restore lr; ftl keeps it itself.
    sgd_.param_groups()[i].options().set_lr(saved.at("lr").get<double>());
  }
}

}  // namespace ftl
