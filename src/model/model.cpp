#include "ftl/model/model.h"

#include <cmath>
#include <filesystem>
#include <system_error>

#include "ftl/model/archive.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/family.h"
#include "ftl/util/errors.h"
#include "ftl/util/text.h"

namespace ftl {
namespace {

const char* const kExportHint =
    "export a trainable file in Python with "
    "torch.jit.script(torchvision.models.resnet18(weights=...)).save(PATH) (or another "
    "torchvision classifier), or with scripts/model/export_model.py";

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

LoadedModel load_model(const std::string& path, const torch::Device& device,
                       const std::string& head_choice, std::int64_t probe_side) {
  std::error_code ignored;
  if (!std::filesystem::is_regular_file(path, ignored)) {
    throw ModelError(path + ": no such model file");
  }
  verify_archive(path);
  LoadedModel loaded;
  torch::jit::ExtraFilesMap extra = {{kMetadataName, ""}};
  try {
    loaded.module = torch::jit::load(path, device, extra);
  } catch (const c10::Error& error) {
    throw ModelError(path + ": not a loadable TorchScript file: " + error.what_without_backtrace());
  }
  const nlohmann::json metadata = nlohmann::json::parse(extra[kMetadataName], nullptr, false);
  if (metadata.is_object() && metadata.value("format", "") == kExportFormatName) {
    throw ModelError(path + ": a network written by ftl export for inference: its weights are " +
                     "constants, so it has no trainable parameters; fine-tune the checkpoint " +
                     "it was exported from (" +
                     metadata.value("export", nlohmann::json::object())
                         .value("source_checkpoint", "its source_checkpoint") +
                     ")");
  }
  if (loaded.module.parameters().size() == 0) {
    throw ModelError(path +
                     ": the model has no trainable parameters (frozen or optimized for "
                     "inference); " +
                     kExportHint);
  }
  loaded.head = find_head(loaded.module, head_choice, path, probe_side);
  loaded.traced = is_traced(loaded.module);
  return loaded;
}

namespace {

// A Dropout layer whose probability TorchScript does not expose drops as torch.nn.Dropout does.
constexpr double kDefaultDropout = 0.5;

// The parameters and buffers a container holds itself, outside its children (ViT's
// class_token, its encoder's pos_embedding): they freeze with the part they feed.
void add_own_tensors(const torch::jit::Module& module, const std::string& prefix,
                     std::set<std::string>& frozen) {
  for (const torch::jit::NameTensor& parameter : module.named_parameters(/*recurse=*/false)) {
    frozen.insert(prefix + parameter.name);
  }
  for (const torch::jit::NameTensor& buffer : module.named_buffers(/*recurse=*/false)) {
    frozen.insert(prefix + buffer.name);
  }
}

// Everything under `module` (at `prefix`) but the head's block, its Dropout and the containers
// on the way to the block, whose other children are added instead.
void add_all_but_head(const torch::jit::Module& module, const std::string& prefix, const Head& head,
                      std::set<std::string>& frozen) {
  add_own_tensors(module, prefix, frozen);
  for (const torch::jit::NameModule& child : module.named_children()) {
    const std::string path = prefix + child.name;
    if (path == head.block || path == head.path || path == head.dropout) continue;
    if (under_path(head.block, path)) {
      add_all_but_head(child.value, path + ".", head, frozen);
    } else {
      frozen.insert(path);
    }
  }
}

std::string child_names(const torch::jit::Module& module) {
  std::vector<std::string> names;
  for (const torch::jit::NameModule& child : module.named_children()) names.push_back(child.name);
  return names.empty() ? std::string("none") : join(names);
}

// Whether the head lies in a child of `module` that comes before `segment`.
bool head_before(const torch::jit::Module& module, const std::string& prefix,
                 const std::string& segment, const Head& head) {
  for (const torch::jit::NameModule& child : module.named_children()) {
    if (child.name == segment) return false;
    if (under_path(head.path, prefix + child.name)) return true;
  }
  return false;
}

std::set<std::string> frozen_up_to(const torch::jit::Module& network, const Head& head,
                                   const FreezePolicy& freeze) {
  const std::string& target = freeze.up_to;
  const std::string where = "model.freeze \"" + freeze.to_string() + "\": ";
  std::set<std::string> frozen;
  torch::jit::Module module = network;
  std::string prefix;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = std::min(target.find('.', start), target.size());
    const std::string segment = target.substr(start, dot - start);
    const std::string path = prefix + segment;
    if (!module.hasattr(segment) || !module.attr(segment).isModule()) {
      throw ConfigError(
          where + "the network has no module '" + path + "'; the modules " +
          (prefix.empty() ? "at its top" : "in " + prefix.substr(0, prefix.size() - 1)) +
          " are: " + child_names(module));
    }
    add_own_tensors(module, prefix, frozen);
    for (const torch::jit::NameModule& child : module.named_children()) {
      if (child.name == segment) break;
      if (under_path(head.path, prefix + child.name)) break;
      frozen.insert(prefix + child.name);
    }
    if (head_before(module, prefix, segment, head) || under_path(head.path, path)) {
      throw ConfigError(where + "it would freeze the head " + head.path +
                        "; name a module before it");
    }
    if (dot == target.size()) {
      frozen.insert(path);
      return frozen;
    }
    module = module.attr(segment).toModule();
    prefix = path + ".";
    start = dot + 1;
  }
}

}  // namespace

std::set<std::string> frozen_modules(const torch::jit::Module& module, const Head& head,
                                     const FreezePolicy& freeze) {
  std::set<std::string> frozen;
  switch (freeze.kind) {
    case FreezePolicy::Kind::kNone:
      return frozen;
    case FreezePolicy::Kind::kBackbone:
      add_all_but_head(module, "", head, frozen);
      return frozen;
    case FreezePolicy::Kind::kUpTo:
      return frozen_up_to(module, head, freeze);
  }
  return frozen;
}

namespace {

bool is_frozen(const std::string& name, const std::set<std::string>& frozen) {
  for (const std::string& path : frozen) {
    if (under_path(name, path)) return true;
  }
  return false;
}

}  // namespace

std::vector<torch::jit::NameTensor> configure_trainable(torch::jit::Module& module,
                                                        const std::set<std::string>& frozen) {
  std::vector<torch::jit::NameTensor> trainable;
  for (const torch::jit::NameTensor& parameter : module.named_parameters(/*recurse=*/true)) {
    const bool trains = !is_frozen(parameter.name, frozen);
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

double drop_probability(const torch::jit::Module& layer) {
  const std::string name = network_class(layer);
  if (name.find("Dropout") == std::string::npos && name != "StochasticDepth") return 0.0;
  // torch.nn.Dropout declares p in __constants__; torchvision's StochasticDepth keeps it as an
  // attribute.
  const c10::ClassTypePtr type = layer.type();
  if (type->hasConstant("p")) return type->getConstant("p").toDouble();
  if (layer.hasattr("p")) return layer.attr("p").toDouble();
  return kDefaultDropout;
}

bool has_batchnorm(const torch::jit::Module& module) {
  for (const torch::jit::NameModule& child : module.named_modules()) {
    if (is_batchnorm(child.value)) return true;
  }
  return false;
}

namespace {

// A Dropout layer that drops nothing (p = 0: ViT's and Swin's defaults) is the identity in
// either mode, but in training mode the JIT's differentiation of a scripted network draws its
// mask anyway (bernoulli_ and a multiplication over the whole activation, where eager PyTorch
// skips p = 0): a fifth of a ViT-B/16 training step here. In eval mode it is skipped.
void keep_identity_dropout_off(torch::jit::Module& module) {
  for (const torch::jit::NameModule& child : module.named_modules()) {
    const std::string name = network_class(child.value);
    if (name.find("Dropout") == std::string::npos || drop_probability(child.value) != 0.0) continue;
    torch::jit::Module handle = child.value;
    handle.train(false);
  }
}

}  // namespace

void set_training(torch::jit::Module& module, bool training, const std::set<std::string>& frozen,
                  BatchNormPolicy batchnorm) {
  module.train(training);
  if (!training) return;
  keep_identity_dropout_off(module);
  if (batchnorm == BatchNormPolicy::kTrain) return;
  if (batchnorm == BatchNormPolicy::kFollow) {
    for (const std::string& path : frozen) {
      try {
        submodule(module, path).train(false);  // a handle to the same submodule
      } catch (const std::out_of_range&) {
        // a parameter held outside any child module: it has no mode
      }
    }
    return;
  }
  for (const torch::jit::NameModule& child : module.named_modules()) {
    if (is_batchnorm(child.value)) {
      torch::jit::Module handle = child.value;
      handle.train(false);
    }
  }
}

}  // namespace ftl
