// The files and tables `ftl evaluate` writes besides its JSON report: the confusion matrix and
// the misclassified images as CSV, and an aligned text table for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/eval/evaluate.h"

namespace ftl {

/// An off-diagonal cell of the confusion matrix.
struct Confusion {
  std::int64_t count = 0;
  std::size_t truth = 0;      // true class index
  std::size_t predicted = 0;  // predicted class index
};

/// The `limit` largest off-diagonal cells of the report's confusion matrix, largest first
/// (ties in row-major order).
std::vector<Confusion> worst_confusions(const nlohmann::ordered_json& report, std::size_t limit);

/// Header `true_class,<predicted class names...>`, then one row per true class.
std::string confusion_csv(const Evaluation& evaluation);

/// Header `path,true_class,predicted_class,confidence,loss`, then one row per misclassified
/// image, in the order the images were found (sorted by loss, they are a report's gallery).
std::string errors_csv(const Evaluation& evaluation);

/// The report as aligned text: per-class rows, the totals and the worst confusions.
std::string evaluation_text(const nlohmann::ordered_json& report);

}  // namespace ftl
