// ftl evaluate's outputs: the quality gates, the confusion and error CSV files and the text
// table.
#include "ftl/eval/evaluate.h"

#include <catch2/catch.hpp>

#include "ftl/eval/evaluation_output.h"
#include "ftl/eval/metrics.h"

using Catch::Matchers::Contains;

TEST_CASE("evaluate: each quality gate names the value and the limit", "[metrics]") {
  nlohmann::ordered_json report = {
      {"accuracy", 0.8},
      {"loss", 0.5},
      {"per_class", {{{"name", "cat"}, {"recall", 0.9}}, {{"name", "dog"}, {"recall", 0.6}}}}};
  CHECK(ftl::failed_gates(report, {}).empty());
  ftl::QualityGates gates;
  gates.min_accuracy = 0.85;
  gates.min_class_recall = 0.7;
  gates.max_loss = 0.4;
  const auto failed = ftl::failed_gates(report, gates);
  REQUIRE(failed.size() == 3);
  // The CLI words them (tests/unit/cli/evaluate_command_test.cpp pins the texts).
  CHECK(failed[0].gate == ftl::Gate::kMinAccuracy);
  CHECK(failed[0].value == 0.8);
  CHECK(failed[0].limit == 0.85);
  CHECK(failed[1].gate == ftl::Gate::kMinClassRecall);
  CHECK(failed[1].class_name == "dog");
  CHECK(failed[1].value == 0.6);
  CHECK(failed[1].limit == 0.7);
  CHECK(failed[2].gate == ftl::Gate::kMaxLoss);
  CHECK(failed[2].value == 0.5);
  CHECK(failed[2].limit == 0.4);
  gates = {0.8, 0.6, 0.5};  // limits met exactly pass
  CHECK(ftl::failed_gates(report, gates).empty());
}

TEST_CASE("evaluate: confusion and error CSV files and the text table", "[metrics]") {
  ftl::Evaluation evaluation;
  evaluation.classes = {"cat", "dog, big"};
  evaluation.samples = {{"data/cat/1.png", 0}, {"data/cat/2.png", 0}, {"data/dog/3.png", 1}};
  evaluation.predictions = {{0, 0, 0.9, 0.1}, {1, 1, 0.75, 1.386294}, {2, 1, 0.6, 0.5}};
  ftl::MetricsAccumulator metrics(2);
  metrics.add(torch::tensor({{2.0F, 0.0F}, {0.0F, 1.0F}, {0.0F, 2.0F}}), torch::tensor({0, 0, 1}));
  evaluation.report = ftl::metrics_report(metrics, evaluation.classes);

  CHECK(ftl::confusion_csv(evaluation) ==
        "true_class,cat,\"dog, big\"\ncat,1,1\n\"dog, big\",0,1\n");
  CHECK(ftl::errors_csv(evaluation) ==
        "path,true_class,predicted_class,confidence,loss\ndata/cat/2.png,cat,\"dog, big\",0.750000,"
        "1.386294\n");

  const std::string text = ftl::evaluation_text(evaluation.report);
  // The averages' labels are as wide as the first column, so every figure stands aligned.
  CHECK(text.rfind("class         precision     recall         f1   support\n"
                   "cat              1.0000     0.5000     0.6667         2\n",
                   0) == 0);
  CHECK_THAT(text, Contains("\nmacro avg        0.7500     0.7500     0.6667         3\n") &&
                       Contains("accuracy 0.6667") && Contains("worst confusions") &&
                       Contains("cat -> dog, big: 1"));
}
