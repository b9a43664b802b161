#include "ftl/model/layer_depth.h"

#include <cmath>
#include <set>
#include <sstream>

#include "ftl/model/family.h"

namespace ftl {
namespace {

std::set<std::string> block_classes(const Family* family) {
  std::set<std::string> classes;
  if (family == nullptr || family->blocks == nullptr) return classes;
  std::istringstream words(family->blocks);
  for (std::string word; words >> word;) classes.insert(word);
  return classes;
}

// The family's blocks in module order, the outermost where they nest.
std::vector<std::string> family_blocks(const torch::jit::Module& network, const Head& head) {
  const std::set<std::string> classes = block_classes(find_family(network));
  std::vector<std::string> blocks;
  if (classes.empty()) return blocks;
  for (const torch::jit::NameModule& child : network.named_modules()) {
    if (child.name.empty() || head.in_block(child.name)) continue;
    if (classes.count(network_class(child.value)) == 0) continue;
    if (!blocks.empty() && under_path(child.name, blocks.back())) continue;
    blocks.push_back(child.name);
  }
  return blocks;
}

// A network of no family: its top-level children that hold parameters, the head's block aside.
std::vector<std::string> top_level_blocks(const torch::jit::Module& network, const Head& head) {
  std::vector<std::string> blocks;
  for (const torch::jit::NameModule& child : network.named_children()) {
    if (head.in_block(child.name) || child.value.parameters().size() == 0) continue;
    blocks.push_back(child.name);
  }
  return blocks;
}

// "layer1.0.conv1.weight" -> "layer1.0.conv1"; "class_token" -> "" (the root's own).
std::string owner_of(const std::string& parameter) {
  const std::size_t dot = parameter.rfind('.');
  return dot == std::string::npos ? std::string() : parameter.substr(0, dot);
}

}  // namespace

LayerDepths layer_depths(const torch::jit::Module& network, const Head& head) {
  LayerDepths depths;
  depths.blocks = family_blocks(network, head);
  if (depths.blocks.empty()) depths.blocks = top_level_blocks(network, head);
  const auto count = static_cast<std::int64_t>(depths.blocks.size());
  depths.max_depth = count + 1;

  std::map<std::string, std::size_t> position;  // each module's place in module order
  for (const torch::jit::NameModule& child : network.named_modules()) {
    position.emplace(child.name, position.size());
  }
  for (const torch::jit::NameTensor& parameter : network.named_parameters(/*recurse=*/true)) {
    std::int64_t depth = -1;
    if (head.in_block(parameter.name)) depth = depths.max_depth;
    for (std::int64_t k = 0; depth < 0 && k < count; ++k) {
      if (under_path(parameter.name, depths.blocks[static_cast<std::size_t>(k)])) depth = k + 1;
    }
    if (depth < 0) {
      // Outside every block: with the block it comes before (a downsampling feeds the next
      // stage), the stem at 0, what follows the last block with that block.
      const std::size_t place = position.at(owner_of(parameter.name));
      std::int64_t before = 0;
      for (const std::string& block : depths.blocks) before += position.at(block) < place ? 1 : 0;
      depth = before == count ? count : before + (before == 0 ? 0 : 1);
    }
    depths.depth[parameter.name] = depth;
  }
  return depths;
}

double depth_scale(double decay, std::int64_t depth, std::int64_t max_depth) {
  return std::pow(decay, static_cast<double>(max_depth - depth));
}

}  // namespace ftl
