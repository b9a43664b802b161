#include "ftl/model/family.h"

namespace ftl {
namespace {

// TorchScript names a scripted torchvision class by its Python module, with a mangling
// segment when a process loads the class twice: __torch__.torchvision.models.resnet.ResNet.
constexpr const char* kTorchvisionPrefix = "__torch__.torchvision.models.";
// MaxVit: the stem and the first block's MBConv each have stride 2, so the first attention
// grid is a quarter of the input's side.
constexpr std::int64_t kMaxVitGridDivisor = 4;

std::string qualified_name(const torch::jit::Module& module) {
  const auto name = module.type()->name();
  return name ? name->qualifiedName() : std::string();
}

}  // namespace

const std::vector<Family>& families() {
  static const std::vector<Family> kFamilies = {
      {"ResNet",
       "resnet18, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d, "
       "resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2",
       HeadRule::kFc, nullptr, InputRule::kAny, "BasicBlock Bottleneck"},
      {"RegNet", "regnet_x_400mf .. regnet_x_32gf, regnet_y_400mf .. regnet_y_128gf", HeadRule::kFc,
       nullptr, InputRule::kAny, "ResBottleneckBlock"},
      {"ShuffleNetV2", "shufflenet_v2_x0_5, _x1_0, _x1_5, _x2_0", HeadRule::kFc, nullptr,
       InputRule::kAny, "InvertedResidual"},
      {"MobileNetV2", "mobilenet_v2", HeadRule::kClassifierLinear, nullptr, InputRule::kAny,
       "InvertedResidual"},
      {"MobileNetV3", "mobilenet_v3_small, mobilenet_v3_large", HeadRule::kClassifierLinear,
       nullptr, InputRule::kAny, "InvertedResidual"},
      {"EfficientNet", "efficientnet_b0 .. efficientnet_b7, efficientnet_v2_s, _m, _l",
       HeadRule::kClassifierLinear, nullptr, InputRule::kAny, "MBConv FusedMBConv"},
      {"MNASNet", "mnasnet0_5, mnasnet0_75, mnasnet1_0, mnasnet1_3", HeadRule::kClassifierLinear,
       nullptr, InputRule::kAny, "_InvertedResidual"},
      {"ConvNeXt", "convnext_tiny, _small, _base, _large", HeadRule::kClassifierLinear, nullptr,
       InputRule::kAny, "CNBlock"},
      {"DenseNet", "densenet121, densenet161, densenet169, densenet201",
       HeadRule::kClassifierLinear, nullptr, InputRule::kAny, "_DenseLayer"},
      // VGG's and AlexNet's features are plain layers: each convolution is a block.
      {"VGG", "vgg11 .. vgg19, vgg11_bn .. vgg19_bn", HeadRule::kClassifierLinear, nullptr,
       InputRule::kAny, "Conv2d"},
      {"AlexNet", "alexnet", HeadRule::kClassifierLinear, nullptr, InputRule::kAny, "Conv2d"},
      {"SqueezeNet", "squeezenet1_0, squeezenet1_1", HeadRule::kClassifierConv, nullptr,
       InputRule::kAny, "Fire"},
      {"VisionTransformer", "vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14",
       HeadRule::kHeadsHead, nullptr, InputRule::kImageSize, "EncoderBlock"},
      {"SwinTransformer", "swin_t, swin_s, swin_b, swin_v2_t, swin_v2_s, swin_v2_b",
       HeadRule::kHead, nullptr, InputRule::kAny, "SwinTransformerBlock SwinTransformerBlockV2"},
      {"MaxVit", "maxvit_t", HeadRule::kClassifierLinear, nullptr, InputRule::kGridOfFour,
       "MaxVitLayer"},
      {"GoogLeNet", "googlenet", HeadRule::kFc,
       "its scripted forward returns GoogLeNetOutputs (the logits and two auxiliary "
       "classifiers' logits), not a tensor"},
      {"Inception3", "inception_v3", HeadRule::kFc,
       "its scripted forward returns InceptionOutputs (the logits and the auxiliary "
       "classifier's logits), not a tensor"},
  };
  return kFamilies;
}

std::string network_class(const torch::jit::Module& module) {
  const std::string name = qualified_name(module);
  return name.substr(name.rfind('.') + 1);
}

const Family* find_family(const torch::jit::Module& network) {
  if (qualified_name(network).rfind(kTorchvisionPrefix, 0) != 0) return nullptr;
  const std::string name = network_class(network);
  for (const Family& family : families()) {
    if (name == family.name) return &family;
  }
  return nullptr;
}

std::int64_t fixed_input_size(const torch::jit::Module& network, const Family& family) {
  if (family.input == InputRule::kImageSize) {
    return network.hasattr("image_size") ? network.attr("image_size").toInt() : 0;
  }
  if (family.input != InputRule::kGridOfFour) return 0;
  for (const torch::jit::NameModule& child : network.named_modules()) {
    if (network_class(child.value) != "PartitionAttentionLayer") continue;
    if (!child.value.hasattr("grid_size")) break;
    const c10::IValue grid = child.value.attr("grid_size");
    const std::int64_t side =
        grid.isTuple() ? grid.toTupleRef().elements().at(0).toInt() : grid.toInt();
    return side * kMaxVitGridDivisor;
  }
  return 0;
}

std::string supported_families() {
  std::string text;
  for (const Family& family : families()) {
    if (family.refused != nullptr) continue;
    text += (text.empty() ? "" : "; ") + std::string(family.name) + " (" + family.members + ")";
  }
  return text;
}

}  // namespace ftl
