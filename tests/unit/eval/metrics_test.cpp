#include "ftl/eval/metrics.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "ftl/eval/evaluate.h"

using Catch::Matchers::WithinAbs;

TEST_CASE("metrics: accuracy, confusion matrix and per-class scores", "[metrics]") {
  ftl::MetricsAccumulator metrics(3, 2);
  // Predictions (argmax): 0, 1, 1, 2 for true labels 0, 0, 1, 2.
  const torch::Tensor logits = torch::tensor(
      {{3.0F, 1.0F, 0.0F}, {1.0F, 2.0F, 0.0F}, {0.0F, 5.0F, 1.0F}, {0.0F, 1.0F, 4.0F}});
  metrics.add(logits.slice(0, 0, 2), torch::tensor({0, 0}));
  metrics.add(logits.slice(0, 2, 4), torch::tensor({1, 2}));
  CHECK(metrics.count() == 4);
  CHECK(metrics.accuracy() == 0.75);
  CHECK(metrics.top_k_accuracy() == 1.0);  // the miss has its true class second
  const auto& confusion = metrics.confusion();
  CHECK(confusion == std::vector<std::vector<std::int64_t>>{{1, 1, 0}, {0, 1, 0}, {0, 0, 1}});
  const auto stats = metrics.per_class();
  CHECK(stats[0].precision == 1.0);
  CHECK(stats[0].recall == 0.5);
  CHECK_THAT(stats[0].f1, WithinAbs(2.0 / 3.0, 1e-12));
  CHECK(stats[0].support == 2);
  CHECK(stats[1].precision == 0.5);
  CHECK(stats[1].recall == 1.0);
  const double expected_loss =
      torch::nn::functional::cross_entropy(logits, torch::tensor({0, 0, 1, 2})).item<double>();
  CHECK_THAT(metrics.mean_loss(), WithinAbs(expected_loss, 1e-6));
}

TEST_CASE("metrics: a loss already computed by training is used as it is", "[metrics]") {
  ftl::MetricsAccumulator metrics(2, 1);
  metrics.add(torch::tensor({{2.0F, 0.0F}, {0.0F, 1.0F}}), torch::tensor({0, 0}), /*loss_sum=*/3.0);
  CHECK(metrics.mean_loss() == 1.5);
  CHECK(metrics.accuracy() == 0.5);
  CHECK(metrics.confusion() == std::vector<std::vector<std::int64_t>>{{1, 1}, {0, 0}});
}

TEST_CASE("metrics: a class never predicted or never present scores 0, not NaN", "[metrics]") {
  ftl::MetricsAccumulator metrics(3, 5);
  CHECK(metrics.top_k() == 3);  // clamped to the number of classes
  metrics.add(torch::tensor({{1.0F, 0.0F, 0.0F}}), torch::tensor({0}));
  const auto stats = metrics.per_class();
  CHECK(stats[1].precision == 0.0);
  CHECK(stats[1].recall == 0.0);
  CHECK(stats[1].f1 == 0.0);
}

TEST_CASE("metrics: the report has top-5 accuracy from 5 classes on", "[metrics]") {
  // Six classes; the true class ranks 1st, 3rd, 6th: top-1 = 1/3, top-5 = 2/3.
  ftl::MetricsAccumulator metrics(6);
  metrics.add(torch::tensor({{9.0F, 1.0F, 2.0F, 3.0F, 4.0F, 5.0F},
                             {1.0F, 9.0F, 8.0F, 0.0F, 2.0F, 3.0F},
                             {0.0F, 9.0F, 8.0F, 7.0F, 6.0F, 5.0F}}),
              torch::tensor({0, 5, 0}));
  const std::vector<std::string> six = {"a", "b", "c", "d", "e", "f"};
  const auto report = ftl::metrics_report(metrics, six);
  CHECK(report["num_samples"] == 3);
  CHECK_THAT(report["accuracy"].get<double>(), WithinAbs(1.0 / 3.0, 1e-12));
  CHECK_THAT(report["top5_accuracy"].get<double>(), WithinAbs(2.0 / 3.0, 1e-12));
  CHECK(report["per_class"].size() == 6);
  CHECK(report["per_class"][0]["name"] == "a");
  CHECK(report["confusion_matrix"][0][1] == 1);

  ftl::MetricsAccumulator four(4);
  four.add(torch::tensor({{1.0F, 0.0F, 0.0F, 0.0F}}), torch::tensor({0}));
  CHECK_FALSE(ftl::metrics_report(four, {"a", "b", "c", "d"}).contains("top5_accuracy"));
}

TEST_CASE("metrics: macro and weighted averages and the calibration error by hand", "[metrics]") {
  // Two classes; confidences 0.8808 (right), 0.7311 (wrong), 0.8909 (right).
  ftl::MetricsAccumulator metrics(2);
  metrics.add(torch::tensor({{2.0F, 0.0F}, {0.0F, 1.0F}, {0.0F, 2.1F}}), torch::tensor({0, 0, 1}));
  const auto p = [](double margin) { return std::exp(margin) / (1 + std::exp(margin)); };
  // Bins of width 1/15: the first and third fall in (13/15, 14/15], the second in (10/15, 11/15].
  const double ece = 2.0 / 3.0 * std::abs(1.0 - (p(2.0) + p(2.1)) / 2) + 1.0 / 3.0 * p(1.0);
  CHECK_THAT(metrics.expected_calibration_error(), WithinAbs(ece, 1e-6));

  const auto report = ftl::metrics_report(metrics, {"a", "b"}, /*top_k=*/2);
  CHECK(report["top2_accuracy"] == 1.0);
  CHECK_THAT(report["ece"].get<double>(), WithinAbs(ece, 1e-6));
  // a: precision 1, recall 1/2, support 2; b: precision 1/2, recall 1, support 1.
  CHECK_THAT(report["macro"]["precision"].get<double>(), WithinAbs(0.75, 1e-12));
  CHECK_THAT(report["macro"]["recall"].get<double>(), WithinAbs(0.75, 1e-12));
  CHECK_THAT(report["macro"]["f1"].get<double>(), WithinAbs(2.0 / 3.0, 1e-12));
  CHECK_THAT(report["weighted"]["precision"].get<double>(), WithinAbs(2.5 / 3.0, 1e-12));
  CHECK_THAT(report["weighted"]["recall"].get<double>(), WithinAbs(2.0 / 3.0, 1e-12));
  CHECK_FALSE(ftl::metrics_report(metrics, {"a", "b"}, 3).contains("top3_accuracy"));
}

TEST_CASE("metrics: the calibration bins, whose weighted gaps are the ECE", "[metrics]") {
  ftl::MetricsAccumulator metrics(2);
  // Top probabilities: softmax of a margin m is 1 / (1 + e^-m).
  const float certain = 10.0F;  // 0.99995: the last bin
  const float even = 0.1F;      // 0.525: bin 7, (7/15, 8/15]
  metrics.add(torch::tensor({{certain, 0.0F}, {certain, 0.0F}, {0.0F, certain}, {even, 0.0F}}),
              torch::tensor({0, 0, 0, 1}));
  const std::vector<ftl::CalibrationBin> bins = metrics.calibration();
  REQUIRE(bins.size() == 15);
  CHECK(bins[0].lower == 0.0);
  CHECK_THAT(bins[0].upper, WithinAbs(1.0 / 15, 1e-15));
  CHECK(bins[14].upper == 1.0);
  CHECK(bins[14].count == 3);
  CHECK_THAT(bins[14].accuracy, WithinAbs(2.0 / 3, 1e-12));
  const double top = 1 / (1 + std::exp(-10.0));
  CHECK_THAT(bins[14].mean_confidence, WithinAbs(top, 1e-6));
  CHECK(bins[7].count == 1);
  CHECK(bins[7].accuracy == 0.0);
  CHECK_THAT(bins[7].mean_confidence, WithinAbs(1 / (1 + std::exp(-0.1)), 1e-6));
  std::int64_t others = 0;
  for (std::size_t b = 0; b < bins.size(); ++b) others += b == 7 || b == 14 ? 0 : bins[b].count;
  CHECK(others == 0);
  const double ece = 0.75 * std::abs(2.0 / 3 - bins[14].mean_confidence) +
                     0.25 * std::abs(0.0 - bins[7].mean_confidence);
  CHECK_THAT(metrics.expected_calibration_error(), WithinAbs(ece, 1e-12));

  const auto report = ftl::metrics_report(metrics, {"a", "b"});
  const auto& calibration = report.at("calibration");
  REQUIRE(calibration.size() == 15);
  CHECK(calibration[14]["count"] == 3);
  CHECK(calibration[14]["accuracy"].get<double>() == bins[14].accuracy);
  CHECK(calibration[0]["count"] == 0);
  CHECK(calibration[0]["accuracy"].is_null());  // an empty bin has no figures, not zeros
  CHECK(calibration[0]["mean_confidence"].is_null());
}
