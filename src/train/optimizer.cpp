#include "ftl/train/optimizer.h"

#include <sstream>
#include <string>
#include <type_traits>

#include "ftl/model/model.h"
#include "ftl/util/errors.h"

namespace ftl {
namespace {

// Keys of each parameter's state in the saved tensors: SGD's momentum buffer, AdamW's step
// count and moments.
std::string momentum_key(const std::string& parameter) { return "momentum/" + parameter; }
std::string adamw_key(const char* part, const std::string& parameter) {
  return std::string("adamw/") + part + "/" + parameter;
}
// Key of a gradient of an optimizer step in progress (train.accumulate_steps).
std::string gradient_key(const std::string& parameter) { return "gradient/" + parameter; }

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

// The options of one parameter group: the configured optimizer's, at `lr` and `weight_decay`.
std::unique_ptr<torch::optim::OptimizerOptions> group_options(const OptimizerConfig& config,
                                                              double lr, double weight_decay) {
  if (config.type == OptimizerType::kAdamW) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(lr);
    options->betas(std::make_tuple(config.betas[0], config.betas[1]))
        .eps(config.eps)
        .weight_decay(weight_decay);
    return options;
  }
  auto options = std::make_unique<torch::optim::SGDOptions>(lr);
  options->momentum(config.momentum).weight_decay(weight_decay).nesterov(config.nesterov);
  return options;
}

// The configured optimizer with no groups yet: the constructor adds them, each with its own
// options.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerConfig& config) {
  const std::vector<torch::optim::OptimizerParamGroup> none;
  if (config.type == OptimizerType::kAdamW) {
    return std::make_unique<torch::optim::AdamW>(
        none, static_cast<torch::optim::AdamWOptions&>(
                  *group_options(config, config.lr, config.weight_decay)));
  }
  return std::make_unique<torch::optim::SGD>(
      none, static_cast<torch::optim::SGDOptions&>(
                *group_options(config, config.lr, config.weight_decay)));
}

// A saved state tensor of `parameter`'s shape (a moment or a momentum buffer), checked.
torch::Tensor saved_like(const std::map<std::string, torch::Tensor>& tensors,
                         const std::string& key, const torch::Tensor& parameter,
                         const std::string& where) {
  const torch::Tensor& saved = tensors.at(key);
  if (saved.sizes() != parameter.sizes()) {
    throw ModelError(where + key + " has shape " + shape_text(saved.sizes().vec()));
  }
  return saved.to(parameter.device()).clone();
}

}  // namespace

TrainingOptimizer::TrainingOptimizer(const std::vector<torch::jit::NameTensor>& trainable,
                                     const Head& classifier, const Config& config,
                                     const LayerDepths& depths)
    : config_(config), depths_(depths), optimizer_(make_optimizer(config.optimizer)) {
  std::vector<torch::jit::NameTensor> head;
  std::vector<torch::jit::NameTensor> backbone;
  for (const torch::jit::NameTensor& parameter : trainable) {
    (classifier.in_block(parameter.name) ? head : backbone).push_back(parameter);
  }
  const bool layered = config.optimizer.layer_decay < 1.0;
  add_groups(head, "head", 1.0, layered ? depths_.max_depth : -1);
  add_backbone(backbone, "backbone");
}

void TrainingOptimizer::add(const std::vector<torch::jit::NameTensor>& parameters,
                            const std::string& prefix) {
  add_backbone(parameters, prefix);
}

// The backbone's parameters at model.backbone_lr_mult, and with layer_decay one group per
// depth, shallowest first, at that times the depth's scale.
void TrainingOptimizer::add_backbone(const std::vector<torch::jit::NameTensor>& parameters,
                                     const std::string& prefix) {
  const double mult = config_.model.backbone_lr_mult;
  const double decay = config_.optimizer.layer_decay;
  if (decay >= 1.0) {
    add_groups(parameters, prefix, mult);
    return;
  }
  std::map<std::int64_t, std::vector<torch::jit::NameTensor>> by_depth;
  for (const torch::jit::NameTensor& parameter : parameters) {
    const auto depth = depths_.depth.find(parameter.name);
    if (depth == depths_.depth.end()) {
      throw ModelError("optimizer.layer_decay: no depth for " + parameter.name);
    }
    by_depth[depth->second].push_back(parameter);
  }
  const std::string layer = prefix == "backbone" ? "layer_" : prefix + "_layer_";
  for (const auto& [depth, members] : by_depth) {
    const double scale = depth_scale(decay, depth, depths_.max_depth);
    add_groups(members, layer + std::to_string(depth), mult * scale, depth, scale);
  }
}

void TrainingOptimizer::add_groups(const std::vector<torch::jit::NameTensor>& parameters,
                                   const std::string& prefix, double lr_mult, std::int64_t depth,
                                   double scale) {
  const OptimizerConfig& settings = config_.optimizer;
  const bool split = settings.weight_decay > 0 && settings.no_decay_bn_bias;
  for (const bool decayed : {true, false}) {
    ParamGroup group{decayed ? prefix : prefix + "_no_decay", lr_mult, {}, depth, scale};
    std::vector<torch::Tensor> tensors;
    for (const torch::jit::NameTensor& parameter : parameters) {
      // timm's rule: tensors of one dimension are biases and normalisation weights.
      const bool decays = !split || parameter.value.dim() > 1;
      if (decays != decayed) continue;
      group.parameters.push_back(parameter.name);
      tensors.push_back(parameter.value);
    }
    if (tensors.empty()) continue;
    optimizer_->add_param_group(torch::optim::OptimizerParamGroup(
        tensors,
        group_options(settings, settings.lr * lr_mult, decayed ? settings.weight_decay : 0.0)));
    groups_.push_back(group);
    tensors_.push_back(tensors);
  }
}

void TrainingOptimizer::set_lr(double lr) {
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    optimizer_->param_groups()[i].options().set_lr(lr * groups_[i].lr_mult);
  }
}

void TrainingOptimizer::set_momentum(double momentum) {
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    torch::optim::OptimizerOptions& options = optimizer_->param_groups()[i].options();
    if (config_.optimizer.type == OptimizerType::kAdamW) {
      auto& adamw = static_cast<torch::optim::AdamWOptions&>(options);
      adamw.betas(std::make_tuple(momentum, std::get<1>(adamw.betas())));
    } else {
      static_cast<torch::optim::SGDOptions&>(options).momentum(momentum);
    }
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
                      {"lr", optimizer_->param_groups()[i].options().get_lr()},
                      {"lr_mult", groups_[i].lr_mult},
                      {"parameters", parameters}});
  }
  return {{"type", to_string(config_.optimizer.type)}, {"groups", groups}};
}

std::map<std::string, torch::Tensor> TrainingOptimizer::state_tensors() const {
  std::map<std::string, torch::Tensor> saved;
  const auto& state = optimizer_->state();
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    for (std::size_t j = 0; j < groups_[i].parameters.size(); ++j) {
      const auto found = state.find(state_key(tensors_[i][j]));
      if (found == state.end()) continue;  // no step has updated it yet
      const std::string& name = groups_[i].parameters[j];
      if (config_.optimizer.type == OptimizerType::kAdamW) {
        const auto& adamw = static_cast<const torch::optim::AdamWParamState&>(*found->second);
        saved[adamw_key("step", name)] = torch::tensor(adamw.step(), torch::kInt64);
        saved[adamw_key("exp_avg", name)] = adamw.exp_avg().cpu();
        saved[adamw_key("exp_avg_sq", name)] = adamw.exp_avg_sq().cpu();
        continue;
      }
      const auto& sgd_state = static_cast<const torch::optim::SGDParamState&>(*found->second);
      if (!sgd_state.momentum_buffer().defined()) continue;
      saved[momentum_key(name)] = sgd_state.momentum_buffer().cpu();
    }
  }
  return saved;
}

std::map<std::string, torch::Tensor> TrainingOptimizer::gradient_tensors() const {
  std::map<std::string, torch::Tensor> saved;
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    for (std::size_t j = 0; j < groups_[i].parameters.size(); ++j) {
      const torch::Tensor& gradient = tensors_[i][j].grad();
      if (gradient.defined()) saved[gradient_key(groups_[i].parameters[j])] = gradient.cpu();
    }
  }
  return saved;
}

void TrainingOptimizer::restore_gradients(const std::map<std::string, torch::Tensor>& tensors,
                                          const std::string& source) {
  const std::string where = source + ": the gradients of the step in progress: ";
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    for (std::size_t j = 0; j < groups_[i].parameters.size(); ++j) {
      const std::string key = gradient_key(groups_[i].parameters[j]);
      if (tensors.count(key) == 0) continue;  // no image of the step reached it
      const torch::Tensor& parameter = tensors_[i][j];
      parameter.mutable_grad() = saved_like(tensors, key, parameter, where);
    }
  }
}

void TrainingOptimizer::restore_parameter_state(const std::map<std::string, torch::Tensor>& tensors,
                                                const std::string& name,
                                                const torch::Tensor& parameter,
                                                const std::string& where) {
  if (config_.optimizer.type == OptimizerType::kAdamW) {
    if (tensors.count(adamw_key("step", name)) == 0) return;  // never stepped
    auto adamw = std::make_unique<torch::optim::AdamWParamState>();
    adamw->step(tensors.at(adamw_key("step", name)).item<std::int64_t>());
    adamw->exp_avg(saved_like(tensors, adamw_key("exp_avg", name), parameter, where));
    adamw->exp_avg_sq(saved_like(tensors, adamw_key("exp_avg_sq", name), parameter, where));
    optimizer_->state()[state_key(parameter)] = std::move(adamw);
    return;
  }
  if (tensors.count(momentum_key(name)) == 0) return;
  auto sgd_state = std::make_unique<torch::optim::SGDParamState>();
  sgd_state->momentum_buffer(saved_like(tensors, momentum_key(name), parameter, where));
  optimizer_->state()[state_key(parameter)] = std::move(sgd_state);
}

void TrainingOptimizer::load_state(const nlohmann::json& state,
                                   const std::map<std::string, torch::Tensor>& tensors,
                                   const std::string& source) {
  const std::string where = source + ": optimizer state does not match the network: ";
  // States saved before AdamW existed are SGD's.
  const std::string type = state.value("type", std::string(to_string(OptimizerType::kSgd)));
  if (type != to_string(config_.optimizer.type)) {
    throw ModelError(source + ": the optimizer state is " + type + "'s, not " +
                     to_string(config_.optimizer.type) + "'s");
  }
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
      restore_parameter_state(tensors, saved_name, parameter, where);
    }
    // LibTorch's own optimizer loading does not restore lr; ftl keeps it itself.
    optimizer_->param_groups()[i].options().set_lr(saved.at("lr").get<double>());
  }
}

}  // namespace ftl
