#include "ftl/eval/metrics.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "ftl/eval/evaluate.h"
#include "ftl/eval/evaluation_output.h"
#include "ftl/train/metrics_log.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
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

TEST_CASE("metrics log: one JSON line and one CSV row per epoch", "[metrics]") {
  ftl::testing::TempDir dir;
  {
    ftl::MetricsLog log(dir.path());
    ftl::EpochMetrics m;
    m.epoch = 1;
    m.train_loss = 0.5;
    m.val_acc = 0.75;
    log.append(m);
    m.epoch = 2;
    log.append(m);
    // Flushed as each epoch ends: readable before the log is closed.
    std::ifstream jsonl(dir / "metrics.jsonl");
    std::string first;
    std::getline(jsonl, first);
    const auto line = nlohmann::json::parse(first);
    CHECK(line["epoch"] == 1);
    CHECK(line["train_loss"] == 0.5);
    CHECK(line["val_acc"] == 0.75);
    for (const char* key : {"train_acc", "val_loss", "lr", "seconds", "images_per_s"}) {
      CHECK(line.contains(key));
    }
  }
  std::ifstream csv(dir / "metrics.csv");
  std::string header;
  std::string row;
  std::getline(csv, header);
  CHECK(header ==
        "epoch,train_loss,train_acc,val_loss,val_acc,lr,lr_end,seconds,images_per_s,stop");
  std::getline(csv, row);
  CHECK(row.rfind("1,0.5,", 0) == 0);
  std::getline(csv, row);
  CHECK(row.rfind("2,", 0) == 0);
}

TEST_CASE("metrics log: a resumed run keeps the epochs its checkpoint has done", "[metrics]") {
  ftl::testing::TempDir dir;
  {
    ftl::MetricsLog log(dir.path());
    ftl::EpochMetrics m;
    for (m.epoch = 1; m.epoch <= 3; ++m.epoch) {
      m.stop = m.epoch == 3 ? "completed" : "";
      log.append(m);
    }
  }
  {
    // The checkpoint has 2 epochs: line 3 came from an epoch whose checkpoint never landed.
    ftl::MetricsLog resumed(dir.path(), 2);
    REQUIRE(resumed.lines().size() == 2);
    ftl::EpochMetrics m;
    m.epoch = 3;
    m.train_loss = 0.25;
    resumed.append(m);
  }
  std::ifstream jsonl(dir / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(jsonl, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 3);
  CHECK(lines[2]["train_loss"] == 0.25);
  std::ifstream csv(dir / "metrics.csv");
  std::string row;
  int rows = 0;
  while (std::getline(csv, row)) ++rows;
  CHECK(rows == 4);  // header + 3 epochs

  REQUIRE_THROWS_WITH(ftl::MetricsLog(dir.path(), 5),
                      (dir / "metrics.jsonl").string() +
                          ": holds 3 epochs, but the checkpoint to resume from has done 5");
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
  CHECK(failed[0] == "accuracy 0.8 < --min-accuracy 0.85");
  CHECK(failed[1] == "recall of class dog 0.6 < --min-class-recall 0.7");
  CHECK(failed[2] == "loss 0.5 > --max-loss 0.4");
  gates = {0.8, 0.6, 0.5};  // limits met exactly pass
  CHECK(ftl::failed_gates(report, gates).empty());
}

TEST_CASE("evaluate: confusion and error CSV files and the text table", "[metrics]") {
  ftl::Evaluation evaluation;
  evaluation.classes = {"cat", "dog, big"};
  evaluation.samples = {{"data/cat/1.png", 0}, {"data/cat/2.png", 0}, {"data/dog/3.png", 1}};
  evaluation.predictions = {{0, 0, 0.9}, {1, 1, 0.75}, {2, 1, 0.6}};
  ftl::MetricsAccumulator metrics(2);
  metrics.add(torch::tensor({{2.0F, 0.0F}, {0.0F, 1.0F}, {0.0F, 2.0F}}), torch::tensor({0, 0, 1}));
  evaluation.report = ftl::metrics_report(metrics, evaluation.classes);

  CHECK(ftl::confusion_csv(evaluation) ==
        "true_class,cat,\"dog, big\"\ncat,1,1\n\"dog, big\",0,1\n");
  CHECK(ftl::errors_csv(evaluation) ==
        "path,true_class,predicted_class,confidence\ndata/cat/2.png,cat,\"dog, big\",0.750000\n");

  const std::string text = ftl::evaluation_text(evaluation.report);
  CHECK_THAT(text, Contains("class     precision") && Contains("macro avg") &&
                       Contains("accuracy 0.6667") && Contains("worst confusions") &&
                       Contains("cat -> dog, big: 1"));
}
