#include "ftl/eval/evaluation_output.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>

#include "ftl/util/csv.h"

namespace ftl {
namespace {

/// How many of the largest off-diagonal confusion cells the text table lists.
constexpr std::size_t kWorstConfusions = 5;

}  // namespace

std::vector<Confusion> worst_confusions(const nlohmann::ordered_json& report, std::size_t limit) {
  std::vector<Confusion> confusions;
  const auto& matrix = report.at("confusion_matrix");
  for (std::size_t truth = 0; truth < matrix.size(); ++truth) {
    for (std::size_t predicted = 0; predicted < matrix[truth].size(); ++predicted) {
      const auto count = matrix[truth][predicted].get<std::int64_t>();
      if (truth != predicted && count > 0) confusions.push_back({count, truth, predicted});
    }
  }
  std::stable_sort(confusions.begin(), confusions.end(),
                   [](const Confusion& a, const Confusion& b) { return a.count > b.count; });
  if (confusions.size() > limit) confusions.resize(limit);
  return confusions;
}

std::string confusion_csv(const Evaluation& evaluation) {
  std::string csv = "true_class";
  for (const std::string& name : evaluation.classes) csv += "," + csv_field(name);
  csv += "\n";
  const auto& matrix = evaluation.report.at("confusion_matrix");
  for (std::size_t row = 0; row < evaluation.classes.size(); ++row) {
    csv += csv_field(evaluation.classes[row]);
    for (const auto& cell : matrix.at(row)) csv += "," + std::to_string(cell.get<std::int64_t>());
    csv += "\n";
  }
  return csv;
}

std::string errors_csv(const Evaluation& evaluation) {
  std::string csv = "path,true_class,predicted_class,confidence,loss\n";
  for (const Prediction& prediction : evaluation.predictions) {
    const Sample& sample = evaluation.samples[prediction.index];
    if (prediction.predicted == sample.label) continue;
    csv += csv_field(sample.path.string()) + "," +
           csv_field(evaluation.classes[static_cast<std::size_t>(sample.label)]) + "," +
           csv_field(evaluation.classes[static_cast<std::size_t>(prediction.predicted)]) + "," +
           fmt::format("{:.6f},{:.6f}", prediction.confidence, prediction.loss) + "\n";
  }
  return csv;
}

std::string evaluation_text(const nlohmann::ordered_json& report) {
  const auto& rows = report.at("per_class");
  // The first column holds the class names and the averages' labels, all aligned.
  std::size_t width = std::string("weighted avg").size();
  for (const auto& row : rows) width = std::max(width, row.at("name").get<std::string>().size());
  std::string text = fmt::format("{:<{}}  {:>9}  {:>9}  {:>9}  {:>8}\n", "class", width,
                                 "precision", "recall", "f1", "support");
  for (const auto& row : rows) {
    text += fmt::format("{:<{}}  {:>9.4f}  {:>9.4f}  {:>9.4f}  {:>8}\n",
                        row.at("name").get<std::string>(), width, row.at("precision").get<double>(),
                        row.at("recall").get<double>(), row.at("f1").get<double>(),
                        row.at("support").get<std::int64_t>());
  }
  for (const char* average : {"macro", "weighted"}) {
    const auto& a = report.at(average);
    text +=
        fmt::format("{:<{}}  {:>9.4f}  {:>9.4f}  {:>9.4f}  {:>8}\n", std::string(average) + " avg",
                    width, a.at("precision").get<double>(), a.at("recall").get<double>(),
                    a.at("f1").get<double>(), report.at("num_samples").get<std::int64_t>());
  }
  text += fmt::format("\naccuracy {:.4f}", report.at("accuracy").get<double>());
  for (const auto& [key, value] : report.items()) {
    if (key.rfind("top", 0) == 0) text += fmt::format("  {} {:.4f}", key, value.get<double>());
  }
  text += fmt::format("  loss {:.4f}  ece {:.4f}  images {}\n", report.at("loss").get<double>(),
                      report.at("ece").get<double>(), report.at("num_samples").get<std::int64_t>());

  const std::vector<Confusion> confusions = worst_confusions(report, kWorstConfusions);
  if (confusions.empty()) return text + "no confusions\n";
  text += "worst confusions (true -> predicted: images):\n";
  for (std::size_t i = 0; i < confusions.size(); ++i) {
    text += fmt::format("  {} -> {}: {}\n", rows[confusions[i].truth].at("name").get<std::string>(),
                        rows[confusions[i].predicted].at("name").get<std::string>(),
                        confusions[i].count);
  }
  return text;
}

}  // namespace ftl
