#include "ftl/model/network_split.h"

#include <spdlog/fmt/fmt.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <optional>
#include <vector>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

constexpr const char* kForward = "forward";

// The submodule path that `value` holds, read off its chain of prim::GetAttr from `self`
// ("classifier", "heads.head"); nullopt where it is not a submodule reached that way.
std::optional<std::string> module_path(Value* value, const Value* self) {
  std::string path;
  while (value != self) {
    Node* node = value->node();
    if (node->kind() != c10::prim::GetAttr) return std::nullopt;
    const std::string& name = node->s(c10::attr::name);
    path = path.empty() ? name : name + "." + path;
    value = node->input(0);
  }
  return path;
}

// Inlines forward's calls of the network's own methods (ResNet's and MobileNet's
// _forward_impl), so that the block's call shows at the top level; the submodules' calls stay.
void inline_own_methods(Graph& graph, const c10::ClassTypePtr& type) {
  Value* self = graph.inputs().at(0);
  bool inlined = true;
  while (inlined) {
    inlined = false;
    for (Node* node : graph.nodes()) {
      if (node->kind() != c10::prim::CallMethod || node->input(0) != self) continue;
      torch::jit::GraphFunction& method =
          torch::jit::toGraphFunction(type->getMethod(node->s(c10::attr::name)));
      // The method's own graph: its optimized graph has its submodules' calls inlined too.
      torch::jit::inlineCallTo(node, &method, method.graph().get());
      inlined = true;
      break;  // the node list changed
    }
  }
}

void find_calls(torch::jit::Block* block, const Value* self, const std::string& path,
                std::vector<Node*>& calls) {
  for (Node* node : block->nodes()) {
    if (node->kind() == c10::prim::CallMethod && node->s(c10::attr::name) == kForward &&
        module_path(node->input(0), self) == path) {
      calls.push_back(node);
    }
    for (torch::jit::Block* inner : node->blocks()) find_calls(inner, self, path, calls);
  }
}

std::string cannot_split(const Head& head, const std::string& why) {
  return fmt::format(
      "the feature cache cannot split this network at its head's block {}: {}; its features "
      "must be the block's input and its output what the block makes of them",
      head.block, why);
}

// The one call of the block's forward in `graph` (inlined), at its top level.
Node* block_call(Graph& graph, const Head& head) {
  std::vector<Node*> calls;
  find_calls(graph.block(), graph.inputs().at(0), head.block, calls);
  if (calls.empty()) throw ModelError(cannot_split(head, "forward never calls it"));
  if (calls.size() > 1) {
    throw ModelError(cannot_split(head, fmt::format("forward calls it {} times", calls.size())));
  }
  if (calls.front()->owningBlock() != graph.block()) {
    throw ModelError(cannot_split(head, "forward calls it inside a branch or a loop"));
  }
  return calls.front();
}

std::shared_ptr<Graph> forward_graph(const torch::jit::Module& network) {
  std::shared_ptr<Graph> graph = network.get_method(kForward).graph()->copy();
  inline_own_methods(*graph, network.type());
  return graph;
}

// Removes every top-level node from `last` back to (not including) `stop`, last first; each
// must have no uses left by then.
void remove_back_to(Node* last, const Node* stop) {
  for (Node* node = last; node != stop;) {
    Node* previous = node->prev();
    node->destroy();
    node = previous;
  }
}

// (self, images) -> the block's input: forward up to the block's call, nothing after it.
std::shared_ptr<Graph> features_graph(const std::shared_ptr<Graph>& forward, const Head& head) {
  std::shared_ptr<Graph> graph = forward->copy();
  Node* call = block_call(*graph, head);
  while (!graph->outputs().empty()) graph->eraseOutput(0);
  graph->registerOutput(call->input(1));
  // The block and what follows would still run (a method call counts as a side effect).
  remove_back_to(graph->return_node()->prev(), call->prev());
  torch::jit::EliminateDeadCode(graph);
  return graph;
}

// (self, features) -> the output: forward from the block's call on, the block's input given.
std::shared_ptr<Graph> logits_graph(const std::shared_ptr<Graph>& forward, const Head& head) {
  std::shared_ptr<Graph> graph = forward->copy();
  Node* call = block_call(*graph, head);
  Value* features = graph->addInput("features");  // a Tensor, as a new value is
  call->replaceInput(1, features);
  // What ran before the block belongs to the features (the size checks included); keep only
  // what the block and its followers read (the block's module, constants).
  for (Node* node = call->prev(); node != graph->param_node();) {
    Node* previous = node->prev();
    bool used = false;
    for (const Value* output : node->outputs()) used = used || output->hasUses();
    if (!used) node->destroy();
    node = previous;
  }
  Value* images = graph->inputs().at(1);
  if (images->hasUses()) {
    throw ModelError(
        cannot_split(head,
                     "its output depends on more than the block's input (forward reads its images "
                     "again after the block)"));
  }
  graph->eraseInput(1);
  torch::jit::EliminateDeadCode(graph);
  return graph;
}

}  // namespace

NetworkSplit::NetworkSplit(const torch::jit::Module& network, const Head& head) {
  const std::shared_ptr<Graph> forward = forward_graph(network);
  features_ = std::make_unique<torch::jit::GraphFunction>("ftl.features",
                                                          features_graph(forward, head), nullptr);
  logits_ = std::make_unique<torch::jit::GraphFunction>("ftl.logits", logits_graph(forward, head),
                                                        nullptr);
}

NetworkSplit::~NetworkSplit() = default;
NetworkSplit::NetworkSplit(NetworkSplit&&) noexcept = default;
NetworkSplit& NetworkSplit::operator=(NetworkSplit&&) noexcept = default;

torch::Tensor NetworkSplit::features(const torch::jit::Module& network,
                                     const torch::Tensor& images) const {
  return (*features_)({network._ivalue(), images}).toTensor();
}

torch::Tensor NetworkSplit::logits(const torch::jit::Module& network,
                                   const torch::Tensor& features) const {
  return (*logits_)({network._ivalue(), features}).toTensor();
}

}  // namespace ftl
