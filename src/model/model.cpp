#include "ftl/model/model.h"

#include <cmath>
#include <filesystem>
#include <system_error>

#include "ftl/model/archive.h"
#include "ftl/util/errors.h"

namespace ftl {
namespace {

const char* const kExportHint =
    "export a trainable file in Python with "
    "torch.jit.script(torchvision.models.resnet18(weights=...)).save(PATH), "
    "or use scripts/export_resnet18.py";

bool has_batchnorm_training_attr(const torch::jit::Module& module) {
  for (const torch::jit::Node* node : module.get_method("forward").graph()->nodes()) {
    if (node->kind() == c10::prim::GetAttr && node->s(c10::attr::name) == "training") return true;
  }
  return false;
}

}  // namespace

bool is_traced(const torch::jit::Module& module) {
  for (const torch::jit::NameModule& child : module.named_modules()) {
    if (!is_batchnorm(child.value)) continue;
    if (!child.value.find_method("forward")) continue;
    return !has_batchnorm_training_attr(child.value);
  }
  return false;
}

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  std::error_code ignored;
  if (!std::filesystem::is_regular_file(path, ignored)) {
    throw ModelError(path + ": no such model file");
  }
  verify_archive(path);
  LoadedModel loaded;
  try {
    loaded.module = torch::jit::load(path, device);
  } catch (const c10::Error& error) {
    throw ModelError(path + ": not a loadable TorchScript file: " + error.what_without_backtrace());
  }
  if (loaded.module.parameters().size() == 0) {
    throw ModelError(path +
                     ": the model has no trainable parameters (frozen or optimized for "
                     "inference); " +
                     kExportHint);
  }
  if (!loaded.module.hasattr(kHeadName) || !loaded.module.attr(kHeadName).isModule()) {
    throw ModelError(path + ": the model has no 'fc' submodule (expected a torchvision ResNet); " +
                     kExportHint);
  }
  const torch::jit::Module head = loaded.module.attr(kHeadName).toModule();
  if (!head.hasattr("weight") || !head.attr("weight").isTensor() || !head.hasattr("bias") ||
      !head.attr("bias").isTensor() || head.attr("weight").toTensor().dim() != 2) {
    throw ModelError(path + ": 'fc' is not a Linear layer with a weight and a bias");
  }
  loaded.traced = is_traced(loaded.module);
  return loaded;
}

std::int64_t head_in_features(const torch::jit::Module& module) {
  return module.attr(kHeadName).toModule().attr("weight").toTensor().size(1);
}

std::int64_t head_out_features(const torch::jit::Module& module) {
  return module.attr(kHeadName).toModule().attr("weight").toTensor().size(0);
}

void replace_head(torch::jit::Module& module, std::int64_t num_classes, std::uint64_t seed) {
  torch::jit::Module head = module.attr(kHeadName).toModule();
  const torch::Tensor old_weight = head.attr("weight").toTensor();
  const std::int64_t in_features = old_weight.size(1);
  // torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) on the weight and
  // uniform(+-1/sqrt(fan_in)) on the bias both come down to this bound.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor weight = torch::empty({num_classes, in_features}, torch::kFloat32);
  torch::Tensor bias = torch::empty({num_classes}, torch::kFloat32);
  weight.uniform_(-bound, bound, generator);
  bias.uniform_(-bound, bound, generator);
  const auto options = old_weight.options();
  head.register_parameter("weight", weight.to(options).requires_grad_(true), /*is_buffer=*/false);
  head.register_parameter("bias", bias.to(options).requires_grad_(true), /*is_buffer=*/false);

  // Linear declares out_features in __constants__, so it lives in the class type, which the
  // saved code prints as `out_features : Final[int] = N`.
  const c10::ClassTypePtr type = head.type();
  if (type->hasConstant("out_features")) {
    type->unsafeRemoveConstant("out_features");
    type->addConstant("out_features", c10::IValue(num_classes));
  } else if (type->hasAttribute("out_features")) {
    head.setattr("out_features", num_classes);
  }
}

bool is_head_parameter(const std::string& name) {
  return name.rfind(std::string(kHeadName) + ".", 0) == 0;
}

std::set<std::string> frozen_modules(const torch::jit::Module& module, const std::string& freeze) {
  std::set<std::string> frozen;
  if (freeze == "backbone") {
    for (const torch::jit::NameModule& child : module.named_children()) {
      if (child.name != kHeadName) frozen.insert(child.name);
    }
    return frozen;
  }
  const std::string up_to = "up_to:layer";
  if (freeze.rfind(up_to, 0) != 0) return frozen;
  const int last = std::stoi(freeze.substr(up_to.size()));
  frozen = {"conv1", "bn1"};
  for (int layer = 1; layer <= last; ++layer) frozen.insert("layer" + std::to_string(layer));
  for (const std::string& name : frozen) {
    if (!module.hasattr(name) || !module.attr(name).isModule()) {
      throw ModelError("model.freeze \"" + freeze + "\": the network has no module '" + name +
                       "' (expected a torchvision ResNet)");
    }
  }
  return frozen;
}

namespace {

// The top-level module a dotted parameter or module name lies in ("layer1.0.conv1.weight").
std::string top_level(const std::string& name) { return name.substr(0, name.find('.')); }

}  // namespace

std::vector<torch::jit::NameTensor> configure_trainable(torch::jit::Module& module,
                                                        const std::set<std::string>& frozen) {
  std::vector<torch::jit::NameTensor> trainable;
  for (const torch::jit::NameTensor& parameter : module.named_parameters(/*recurse=*/true)) {
    const bool trains = frozen.count(top_level(parameter.name)) == 0;
    parameter.value.requires_grad_(trains);
    if (trains) trainable.push_back(parameter);
  }
  return trainable;
}

bool is_batchnorm(const torch::jit::Module& module) {
  const auto type = module.type()->name();
  return type && type->name().find("BatchNorm") != std::string::npos;
}

bool any_batchnorm_training(const torch::jit::Module& module) {
  for (const torch::jit::NameModule& child : module.named_modules()) {
    if (is_batchnorm(child.value) && child.value.is_training()) return true;
  }
  return false;
}

void set_training(torch::jit::Module& module, bool training, const std::set<std::string>& frozen,
                  BatchNormPolicy batchnorm) {
  module.train(training);
  if (!training || batchnorm == BatchNormPolicy::kTrain) return;
  for (const torch::jit::NameModule& child : module.named_modules()) {
    const bool in_frozen_part = frozen.count(top_level(child.name)) > 0;
    if (batchnorm == BatchNormPolicy::kFrozen ? is_batchnorm(child.value) : in_frozen_part) {
      torch::jit::Module handle = child.value;  // a handle to the same submodule
      handle.train(false);
    }
  }
}

}  // namespace ftl
