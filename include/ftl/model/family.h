// The torchvision classification families: how ftl recognises each one (the class of the
// scripted root module), where its classifier head is by convention, and the one input size
// that some of them take. Every family of torchvision 0.14 scripts; two are refused because
// their scripted forward does not return a tensor of logits.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ftl {

/// Where model.head "auto" finds a family's classifier head.
enum class HeadRule {
  kFc,                // the Linear `fc` (ResNet, ResNeXt, Wide ResNet, RegNet, ShuffleNetV2)
  kClassifierLinear,  // `classifier` when it is a Linear layer, else its last Linear child
  kClassifierConv,    // `classifier`'s 1x1 Conv2d (SqueezeNet's final convolution)
  kHeadsHead,         // `heads.head` (VisionTransformer)
  kHead,              // `head` (SwinTransformer)
};

/// Which input sizes a family takes.
enum class InputRule {
  kAny,         // any size its downsampling leaves at least one pixel of (convolutions, Swin)
  kImageSize,   // only its `image_size` attribute squared (VisionTransformer)
  kGridOfFour,  // only 4x its first attention grid, squared (MaxVit)
};

struct Family {
  const char* name;     // the torchvision class, as TorchScript names the root module's type
  const char* members;  // the torchvision.models constructors that build it
  HeadRule head;
  const char* refused;  // why ftl cannot fine-tune it; nullptr for a family that works
  InputRule input = InputRule::kAny;
  // The classes of the blocks that optimizer.layer_decay counts depth in, space-separated
  // ("BasicBlock Bottleneck"); nullptr where there are none.
  const char* blocks = nullptr;
};

/// Every classification family of torchvision 0.14, the refused ones last.
const std::vector<Family>& families();

/// The class name of the network's root module ("ResNet"), without TorchScript's prefixes.
std::string network_class(const torch::jit::Module& network);

/// The family of a scripted torchvision network, or nullptr for a network of another class
/// (a user's own module, a torchvision class subclassed).
const Family* find_family(const torch::jit::Module& network);

/// The side in pixels of the only square input the network takes, or 0 when any size works:
/// VisionTransformer's image_size; MaxVit's first attention grid times 4 (its stem and first
/// block each halve the side). Swin pads its windows and takes any size.
std::int64_t fixed_input_size(const torch::jit::Module& network, const Family& family);

/// "ResNet (resnet18, ...), RegNet (...), ..." : the families that fine-tune, for messages.
std::string supported_families();

}  // namespace ftl
