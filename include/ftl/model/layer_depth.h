// Each parameter's depth in the network, for layer-wise learning-rate decay
// (optimizer.layer_decay, timm's param_groups_layer_decay, from BEiT): the parameters nearest
// the input learn slowest. Depth follows the module's own order, counted in the family's
// blocks (family.h): the stem is depth 0, the k-th block depth k, the head's block the
// deepest, one past the last block.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ftl/model/head.h"

namespace ftl {

struct LayerDepths {
  std::map<std::string, std::int64_t> depth;  // every parameter's, by name
  std::int64_t max_depth = 0;                 // the head's block's: scale 1
  std::vector<std::string> blocks;            // the blocks' module paths: block k is blocks[k-1]
};

/// The depths of `network`'s parameters. A block is a module of one of the family's block
/// classes outside the head's block (the outermost, where blocks nest); for a network of no
/// family, or a family without them, each top-level child but the head's block is one. Then:
/// a parameter in block k is at depth k; one before the first block (the stem: ResNet's conv1,
/// ViT's class token and position embedding) at 0; one between blocks k and k+1 (Swin's patch
/// merging, ConvNeXt's downsampling, DenseNet's transitions) at k+1, with the block it feeds;
/// one after the last block (ViT's and Swin's final norm, MobileNet's last convolution) at the
/// last block's depth; the head's block at max_depth = blocks + 1.
LayerDepths layer_depths(const torch::jit::Module& network, const Head& head);

/// decay ** (max_depth - depth): the factor of a parameter's learning rate.
double depth_scale(double decay, std::int64_t depth, std::int64_t max_depth);

}  // namespace ftl
