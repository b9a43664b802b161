#include "ftl/model/head.h"

#include <spdlog/fmt/fmt.h>

#include <cctype>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <vector>

#include "ftl/model/family.h"
#include "ftl/model/model.h"
#include "ftl/model/probe.h"
#include "ftl/util/errors.h"
#include "ftl/util/text.h"

namespace ftl {
namespace {

constexpr const char* kAuto = "auto";
// How many of a network's possible head layers a message lists (a ViT has fifty Linear layers).
constexpr std::size_t kListedCandidates = 8;

std::optional<HeadKind> head_kind(const torch::jit::Module& layer) {
  if (!layer.hasattr("weight") || !layer.attr("weight").isTensor()) return std::nullopt;
  const torch::Tensor weight = layer.attr("weight").toTensor();
  if (weight.dim() == 2) return HeadKind::kLinear;
  if (weight.dim() == 4 && weight.size(2) == 1 && weight.size(3) == 1) return HeadKind::kConv;
  return std::nullopt;
}

bool has_bias(const torch::jit::Module& layer) {
  return layer.hasattr("bias") && layer.attr("bias").isTensor();
}

std::optional<torch::jit::Module> find_module(const torch::jit::Module& network,
                                              const std::string& path) {
  try {
    return submodule(network, path);
  } catch (const std::out_of_range&) {
    return std::nullopt;
  }
}

bool is_layer(const torch::jit::Module& network, const std::string& path, HeadKind kind) {
  const std::optional<torch::jit::Module> layer = find_module(network, path);
  return layer && head_kind(*layer) == kind;
}

// `container`'s last child of `kind` ("classifier.3"), or `container` itself when it is one.
std::string last_layer_in(const torch::jit::Module& network, const std::string& container,
                          HeadKind kind) {
  const std::optional<torch::jit::Module> parent = find_module(network, container);
  if (!parent) return "";
  if (head_kind(*parent) == kind) return container;
  std::string found;
  for (const torch::jit::NameModule& child : parent->named_children()) {
    if (head_kind(child.value) == kind) found = container + "." + child.name;
  }
  return found;
}

std::string conventional_head(const torch::jit::Module& network, HeadRule rule) {
  switch (rule) {
    case HeadRule::kFc:
      return is_layer(network, "fc", HeadKind::kLinear) ? "fc" : "";
    case HeadRule::kClassifierLinear:
      return last_layer_in(network, "classifier", HeadKind::kLinear);
    case HeadRule::kClassifierConv:
      return last_layer_in(network, "classifier", HeadKind::kConv);
    case HeadRule::kHeadsHead:
      return is_layer(network, "heads.head", HeadKind::kLinear) ? "heads.head" : "";
    case HeadRule::kHead:
      return is_layer(network, "head", HeadKind::kLinear) ? "head" : "";
  }
  return "";
}

std::string convention_text(HeadRule rule) {
  switch (rule) {
    case HeadRule::kFc:
      return "Linear fc";
    case HeadRule::kClassifierLinear:
      return "Linear layer in its classifier";
    case HeadRule::kClassifierConv:
      return "1x1 Conv2d in its classifier";
    case HeadRule::kHeadsHead:
      return "Linear heads.head";
    case HeadRule::kHead:
      return "Linear head";
  }
  return "";
}

// A network of no torchvision family: the first convention that names a head layer.
std::string any_convention(const torch::jit::Module& network) {
  for (const HeadRule rule :
       {HeadRule::kFc, HeadRule::kClassifierLinear, HeadRule::kHeadsHead, HeadRule::kHead}) {
    const std::string path = conventional_head(network, rule);
    if (!path.empty()) return path;
  }
  return "";
}

// "its Linear and 1x1 Conv2d layers: a, b, c" (the last few, in the module's order).
std::string candidates(const torch::jit::Module& network) {
  std::vector<std::string> layers;
  for (const torch::jit::NameModule& child : network.named_modules()) {
    if (!child.name.empty() && head_kind(child.value)) layers.push_back(child.name);
  }
  if (layers.empty()) return "it has no Linear or 1x1 Conv2d layer";
  std::string shown;
  if (layers.size() > kListedCandidates) {
    shown = fmt::format(" (the last {} of {})", kListedCandidates, layers.size());
    layers.erase(layers.begin(), layers.end() - static_cast<std::ptrdiff_t>(kListedCandidates));
  }
  return "its Linear and 1x1 Conv2d layers" + shown + ": " + join(layers);
}

bool is_index(const std::string& segment) {
  if (segment.empty()) return false;
  for (const char c : segment) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

// The Dropout layer right before the head in its Sequential ("classifier.2" for
// "classifier.3"), as MobileNet, EfficientNet, MNASNet, VGG and SqueezeNet have.
void find_head_dropout(const torch::jit::Module& network, Head& head) {
  const std::size_t dot = head.path.rfind('.');
  if (dot == std::string::npos || !is_index(head.path.substr(dot + 1))) return;
  const int index = std::stoi(head.path.substr(dot + 1));
  if (index == 0) return;
  const std::string before = head.path.substr(0, dot + 1) + std::to_string(index - 1);
  const std::optional<torch::jit::Module> layer = find_module(network, before);
  if (!layer || network_class(*layer).find("Dropout") == std::string::npos) return;
  head.dropout = before;
}

// The Sequential that holds the head, below the root; the head itself where there is none.
std::string head_block(const torch::jit::Module& network, const std::string& path) {
  constexpr const char* kSequential = "Sequential";
  const std::size_t dot = path.rfind('.');
  if (dot == std::string::npos) return path;
  const std::string parent = path.substr(0, dot);
  return network_class(submodule(network, parent)) == kSequential ? parent : path;
}

std::string network_name(const Family* family, const torch::jit::Module& network) {
  return family != nullptr ? std::string(family->name)
                           : "network (class " + network_class(network) + ")";
}

// The network's output width, from one probe pass; 0 when that fails or gives no 2-d logits.
std::int64_t output_width(const torch::jit::Module& network, std::int64_t probe_side) {
  const ProbeResult answer = probe(network, probe_side, parameter_device(network));
  if (!answer.failure.empty() || answer.output.dim() != 2) return 0;
  return answer.output.size(1);
}

// The last Linear or 1x1 Conv2d in the module's order whose output width is the network's:
// a network of no torchvision family whose head has none of the conventional names.
std::string last_output_layer(const torch::jit::Module& network, std::int64_t probe_side) {
  if (probe_side <= 0) return "";
  const std::int64_t width = output_width(network, probe_side);
  if (width == 0) return "";
  std::string found;
  for (const torch::jit::NameModule& child : network.named_modules()) {
    if (child.name.empty() || !head_kind(child.value)) continue;
    if (child.value.attr("weight").toTensor().size(0) == width) found = child.name;
  }
  return found;
}

std::string auto_head(const torch::jit::Module& network, const Family* family,
                      const std::string& source, std::int64_t probe_side) {
  std::string path =
      family != nullptr ? conventional_head(network, family->head) : any_convention(network);
  if (path.empty() && family == nullptr) path = last_output_layer(network, probe_side);
  if (!path.empty()) return path;
  const std::string missing =
      family != nullptr
          ? fmt::format("{}'s {} has no {}", source, family->name, convention_text(family->head))
          : fmt::format(
                "{}'s {} is of no torchvision family, has no Linear fc, classifier, "
                "heads.head or head, and no Linear or 1x1 Conv2d layer as wide as its output",
                source, network_name(family, network));
  // Not a classifier ftl can fine-tune as it stands: a bad model (exit 1), not a bad setting.
  throw ModelError(fmt::format("model.head \"auto\": {}; name its head with model.head; {}",
                               missing, candidates(network)));
}

}  // namespace

bool under_path(const std::string& name, const std::string& path) {
  return name == path || (name.size() > path.size() && name.compare(0, path.size(), path) == 0 &&
                          name[path.size()] == '.');
}

torch::jit::Module submodule(const torch::jit::Module& network, const std::string& path) {
  torch::jit::Module module = network;
  std::size_t start = 0;
  while (start < path.size()) {
    const std::size_t dot = std::min(path.find('.', start), path.size());
    const std::string segment = path.substr(start, dot - start);
    if (!module.hasattr(segment) || !module.attr(segment).isModule()) {
      throw std::out_of_range(path);
    }
    module = module.attr(segment).toModule();
    start = dot + 1;
  }
  return module;
}

bool Head::holds(const std::string& name) const { return under_path(name, path); }

bool Head::in_block(const std::string& name) const { return under_path(name, block); }

std::string block_layers(const torch::jit::Module& network, const Head& head) {
  if (head.block == head.path) return head.path + " (the head)";
  std::vector<std::string> layers;
  for (const torch::jit::NameModule& child : submodule(network, head.block).named_children()) {
    const std::string path = head.block + "." + child.name;
    layers.push_back(path + " " + network_class(child.value) +
                     (path == head.path ? " (the head)" : ""));
  }
  return join(layers);
}

nlohmann::json Head::to_json() const {
  return {{"family", family.empty() ? nlohmann::json(nullptr) : nlohmann::json(family)},
          {"head", path},
          {"head_block", block},
          {"head_kind", to_string(kind)},
          {"head_in_features", in_features}};
}

std::string Head::describe() const {
  return fmt::format("{} ({} {} -> {})", path, kind == HeadKind::kLinear ? "Linear" : "Conv2d 1x1",
                     in_features, out_features);
}

Head find_head(const torch::jit::Module& network, const std::string& choice,
               const std::string& source, std::int64_t probe_side) {
  const Family* family = find_family(network);
  if (family != nullptr && family->refused != nullptr) {
    throw ModelError(
        fmt::format("model.path {}: ftl cannot fine-tune a {}: {}; the families it "
                    "fine-tunes are {}",
                    source, family->name, family->refused, supported_families()));
  }
  const std::string path =
      choice == kAuto ? auto_head(network, family, source, probe_side) : choice;
  const std::optional<torch::jit::Module> layer = find_module(network, path);
  if (!layer) {
    throw ConfigError(fmt::format("model.head \"{}\": {}'s {} has no module '{}'; {}", choice,
                                  source, network_name(family, network), path,
                                  candidates(network)));
  }
  const std::optional<HeadKind> kind = head_kind(*layer);
  if (!kind) {
    throw ConfigError(
        fmt::format("model.head \"{}\": '{}' in {} is a {}, not a Linear or 1x1 Conv2d layer; {}",
                    choice, path, source, network_class(*layer), candidates(network)));
  }
  Head head;
  head.family = family != nullptr ? family->name : "";
  head.path = path;
  head.kind = *kind;
  const torch::Tensor weight = layer->attr("weight").toTensor();
  head.out_features = weight.size(0);
  head.in_features = weight.size(1);
  head.bias = has_bias(*layer);
  find_head_dropout(network, head);
  head.block = head_block(network, path);
  return head;
}

Head replace_head(torch::jit::Module& network, const Head& head, std::int64_t classes,
                  std::uint64_t seed) {
  torch::jit::Module layer = submodule(network, head.path);
  for (const torch::jit::NameModule& other : network.named_modules()) {
    if (other.name != head.path && other.value.type() == layer.type()) {
      // TorchScript gives modules with equal constants one class: the new width would reach
      // the other module's code too.
      throw ModelError(fmt::format(
          "the head {} shares its TorchScript class with {} (the same layer type and "
          "sizes), so a new output width would change {} too; ftl changes no module but the "
          "head: script the network with a head whose sizes no other layer has, or name "
          "another head with model.head",
          head.path, other.name, other.name));
    }
  }
  const torch::Tensor old_weight = layer.attr("weight").toTensor();
  // torch.nn.Linear's and Conv2d's reset_parameters: kaiming_uniform_(a=sqrt(5)) on the weight
  // and uniform(+-1/sqrt(fan_in)) on the bias both come down to this bound; a 1x1 kernel's
  // fan_in is its in_channels.
  const double bound = 1.0 / std::sqrt(static_cast<double>(head.in_features));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<std::int64_t> shape = {classes, head.in_features};
  if (head.kind == HeadKind::kConv) shape = {classes, head.in_features, 1, 1};
  torch::Tensor weight = torch::empty(shape, torch::kFloat32);
  weight.uniform_(-bound, bound, generator);
  const auto options = old_weight.options();
  layer.register_parameter("weight", weight.to(options).requires_grad_(true), /*is_buffer=*/false);
  if (head.bias) {
    torch::Tensor bias = torch::empty({classes}, torch::kFloat32);
    bias.uniform_(-bound, bound, generator);
    layer.register_parameter("bias", bias.to(options).requires_grad_(true), /*is_buffer=*/false);
  }
  // Linear and Conv2d declare out_features / out_channels in __constants__, so the value lives
  // in the class type, which the saved code prints as `out_features : Final[int] = N`.
  const char* constant = head.kind == HeadKind::kLinear ? "out_features" : "out_channels";
  const c10::ClassTypePtr type = layer.type();
  if (type->hasConstant(constant)) {
    type->unsafeRemoveConstant(constant);
    type->addConstant(constant, c10::IValue(classes));
  } else if (type->hasAttribute(constant)) {
    layer.setattr(constant, classes);
  }
  Head replaced = head;
  replaced.out_features = classes;
  return replaced;
}

}  // namespace ftl
