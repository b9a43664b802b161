#include "ftl/train/loss.h"

#include "ftl/util/errors.h"

namespace ftl {

torch::Tensor class_weights(const nlohmann::json& setting, const std::vector<std::string>& classes,
                            const std::vector<std::int64_t>& counts) {
  const auto num_classes = static_cast<std::int64_t>(classes.size());
  if (setting.is_string() && setting.get<std::string>() == "none") return {};
  std::vector<double> weights(classes.size(), 1.0);
  if (setting.is_string()) {  // "balanced"
    std::int64_t total = 0;
    for (const std::int64_t count : counts) total += count;
    for (std::size_t c = 0; c < classes.size(); ++c) {
      if (counts[c] == 0) {
        throw DataError("train.class_weights \"balanced\": class " + classes[c] +
                        " has no training images");
      }
      weights[c] = static_cast<double>(total) / static_cast<double>(num_classes * counts[c]);
    }
  } else {
    for (const auto& [name, weight] : setting.items()) {
      const auto found = std::find(classes.begin(), classes.end(), name);
      if (found == classes.end()) {
        std::string list;
        for (const std::string& known : classes) list += (list.empty() ? "" : ", ") + known;
        throw ConfigError("train.class_weights names class \"" + name +
                          "\", which the training data does not have (classes: " + list + ")");
      }
      weights[static_cast<std::size_t>(found - classes.begin())] = weight.get<double>();
    }
  }
  return torch::tensor(weights, torch::kFloat32);
}

torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                            const torch::Tensor& weights, double label_smoothing) {
  auto options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  if (weights.defined()) options.weight(weights);
  return torch::nn::functional::cross_entropy(logits, labels, options);
}

}  // namespace ftl
