#include "ftl/eval/class_scores.h"

#include <cmath>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

/// The width dimension of an [N, 3, H, W] batch: the axis a left-right mirror reverses.
constexpr std::int64_t kWidthDim = 3;

torch::Tensor softmax_of(torch::jit::Module& module, const torch::Tensor& inputs) {
  return module.forward({inputs}).toTensor().softmax(/*dim=*/1);
}

}  // namespace

Tta parse_tta(const std::string& text, const std::string& key) {
  if (text == "none") return Tta::kNone;
  if (text == "flip") return Tta::kFlip;
  throw ConfigError(key + " must be none or flip, got '" + text + "'");
}

const char* tta_name(Tta tta) { return tta == Tta::kFlip ? "flip" : "none"; }

torch::Tensor class_probabilities(torch::jit::Module& module, const torch::Tensor& inputs,
                                  Tta tta) {
  if (tta == Tta::kNone) return softmax_of(module, inputs);
  // Two passes rather than one of twice the batch: the same shapes as without TTA, so the
  // first pass's probabilities are exactly those of the image alone.
  const torch::Tensor plain = softmax_of(module, inputs);
  const torch::Tensor mirrored = softmax_of(module, inputs.flip({kWidthDim}));
  return (plain + mirrored) / 2;
}

torch::Tensor class_scores(torch::jit::Module& module, const torch::Tensor& inputs, Tta tta) {
  const torch::Tensor plain = module.forward({inputs}).toTensor().to(torch::kFloat32);
  if (tta == Tta::kNone) return plain;
  const torch::Tensor mirrored =
      module.forward({inputs.flip({kWidthDim})}).toTensor().to(torch::kFloat32);
  // log((p + q) / 2) by logsumexp of the log-probabilities: no log(0) where a probability
  // underflows, so the loss stays finite.
  return torch::logsumexp(torch::stack({plain.log_softmax(1), mirrored.log_softmax(1)}), 0) -
         std::log(2.0);
}

std::vector<std::vector<ClassScore>> top_classes(const torch::Tensor& probabilities, std::int64_t k,
                                                 const std::vector<std::string>& classes) {
  const auto [values, indices] = probabilities.topk(k, /*dim=*/1);
  const torch::Tensor p = values.to(torch::kCPU, torch::kFloat64).contiguous();
  const torch::Tensor c = indices.to(torch::kCPU, torch::kInt64).contiguous();
  const double* probability = p.data_ptr<double>();
  const std::int64_t* index = c.data_ptr<std::int64_t>();
  std::vector<std::vector<ClassScore>> rows(static_cast<std::size_t>(probabilities.size(0)));
  for (std::size_t row = 0; row < rows.size(); ++row) {
    for (std::int64_t j = 0; j < k; ++j) {
      const std::size_t at = row * static_cast<std::size_t>(k) + static_cast<std::size_t>(j);
      rows[row].push_back(
          {classes[static_cast<std::size_t>(index[at])], index[at], probability[at]});
    }
  }
  return rows;
}

}  // namespace ftl
