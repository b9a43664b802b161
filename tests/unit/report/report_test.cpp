// HTML reports: what a run's page holds, that it needs nothing outside the file, and how bad
// run folders fail (a browser draws the page in tests/e2e/report_test.cpp).
#include "ftl/report/report.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>

#include "ftl/report/svg_chart.h"
#include "support/common.h"
#include "support/page.h"
#include "support/samples.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::occurrences;
using ftl::testing::sample_evaluation;
using ftl::testing::write_run;

TEST_CASE("report: a run's page holds curves, heat map, tables and config, nothing external",
          "[report]") {
  ftl::testing::TempDir dir;
  write_run(dir / "run");
  const ftl::RunRecord run = ftl::read_run(dir / "run");
  REQUIRE(run.epochs.size() == 3);
  const std::string html = ftl::run_report_html(run, sample_evaluation());

  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(occurrences(html, "<svg") == 5);       // loss, accuracy, lr, reliability, confusion matrix
  CHECK(occurrences(html, "<polyline") == 6);  // train and val (first and last lr) in each chart
  CHECK(occurrences(html, "<circle") == 18);   // one point per epoch on each line
  CHECK_THAT(html, Contains("&lt;b&gt;&amp;co") && Contains("trained all 3 epochs") &&
                       Contains("Learning curves") && Contains("worst") &&
                       Contains("<td>sandal</td><td>boot</td><td>1</td>") &&
                       Contains("0.9933"));     // accuracy 149/150
  CHECK_FALSE(Contains("<b>&co").match(html));  // a class name is never markup
  // Self-contained: no scripts, no fetched resources, no links out (SVG's namespace aside).
  std::string stripped = html;
  for (std::size_t at; (at = stripped.find("http://www.w3.org/2000/svg")) != std::string::npos;) {
    stripped.erase(at, 26);
  }
  CHECK_FALSE(Contains("<script").match(stripped));
  CHECK_FALSE(Contains("src=").match(stripped));
  CHECK_FALSE(Contains("http").match(stripped));
  CHECK_FALSE(Contains("url(").match(stripped));

  const std::string page = ftl::evaluation_report_html(sample_evaluation());
  CHECK(occurrences(page, "<svg") == 2);  // reliability, confusion matrix
  CHECK_THAT(page, Contains("Per class") && Contains("macro avg") && Contains("Reliability (ECE"));
  CHECK_FALSE(Contains("Highest losses").match(page));  // no gallery given: no section

  // Where the evaluation came from, with TTA and bf16 named only when they were on.
  nlohmann::ordered_json located = sample_evaluation();
  located["checkpoint"] = "run/checkpoints/best.pt";
  located["data"] = "data/<test>";
  located["precision"] = "fp32";
  CHECK_THAT(ftl::evaluation_report_html(located),
             Contains("run/checkpoints/best.pt evaluated on data/&lt;test&gt;</p>"));
  located["tta"] = "flip";
  located["precision"] = "bf16";
  CHECK_THAT(ftl::evaluation_report_html(located),
             Contains("run/checkpoints/best.pt evaluated on data/&lt;test&gt;, test-time "
                      "augmentation flip, in bf16</p>"));

  // An evaluation written before the calibration bins still makes a page, and says so.
  nlohmann::ordered_json older = sample_evaluation();
  older.erase("calibration");
  const std::string older_page = ftl::evaluation_report_html(older);
  CHECK(occurrences(older_page, "<svg") == 1);
  CHECK_THAT(older_page, Contains("This evaluation predates its calibration bins"));
}

TEST_CASE("report: charts survive one epoch, flat lines and missing values", "[report]") {
  const std::string one = ftl::line_chart_svg("Loss", "epoch", {1}, {{"train", {0.5}, "#000"}}).svg;
  CHECK(occurrences(one, "<circle") == 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::string gaps =
      ftl::line_chart_svg("Acc", "epoch", {1, 2, 3}, {{"val", {nan, 0.5, nan}, "#000"}}).svg;
  CHECK(occurrences(gaps, "<circle") == 1);
  CHECK_FALSE(Contains("nan").match(gaps));
  // Long names are cut at a character boundary, never inside a UTF-8 sequence.
  std::string wide;
  for (int i = 0; i < 10; ++i) wide += "\xE6\x97\xA5";  // 日, 3 bytes each
  const std::string map = ftl::heatmap_svg({wide, "b"}, {{1, 0}, {0, 1}});
  CHECK_THAT(map, Contains(">\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5\xE6\x97\xA5"
                           "\xE6\x97\xA5~<"));
  // Values one ulp apart: the ticks are counted, so the chart ends (and has a scale).
  const std::string close =
      ftl::line_chart_svg("Loss", "epoch", {1, 2},
                          {{"train", {1.0, std::nextafter(1.0, 2.0)}, "#000"}})
          .svg;
  CHECK(occurrences(close, "<circle") == 2);
  CHECK(ftl::heat_colour(0) == "#f7fbff");
  CHECK(ftl::heat_colour(1) == "#08306b");
  CHECK(ftl::xml_escape("a<'\">&") == "a&lt;&#39;&quot;&gt;&amp;");
}

TEST_CASE("report: several runs compared on shared charts, and as one SVG file", "[report]") {
  ftl::testing::TempDir dir;
  write_run(dir / "pretrained_full");
  write_run(dir / "scratch_from_random_weights");
  std::ofstream(dir / "scratch_from_random_weights/metrics.jsonl", std::ios::app)
      << R"({"epoch": 4, "train_loss": 0.2, "val_loss": 0.3, "val_acc": 0.9})"
      << "\n";
  ftl::ReportOptions options;
  options.run_dirs = {dir / "pretrained_full", dir / "scratch_from_random_weights"};
  options.output = dir / "compare.html";
  options.svg = dir / "curves.svg";
  ftl::write_report(options, ftl::testing::quiet_logger());
  const std::string html = ftl::testing::read_file(options.output);
  CHECK(occurrences(html, "<svg") == 3);       // val accuracy, val loss, train loss
  CHECK(occurrences(html, "<polyline") == 6);  // one line per run in each
  CHECK(occurrences(html, "<circle") == 3 * (3 + 4));
  CHECK_THAT(html, Contains("Validation accuracy") && Contains(">scratch_from_random_weights<"));
  const std::string svg = ftl::testing::read_file(options.svg);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1080\"", 0) == 0);
  CHECK_THAT(svg, Contains("<style>") && Contains("Training loss"));
  // The two long names do not fit on one legend row: the charts grow a row.
  CHECK_THAT(svg, Contains("height=\"256\""));

  options.output.clear();
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    "report: comparing 2 runs needs an output file (the page belongs to no single "
                    "run folder)");
  options.output = dir / "compare.html";
  options.data = dir / "test";
  CHECK_THROWS_WITH(
      ftl::write_report(options, ftl::testing::quiet_logger()),
      "report: an evaluation file or data folder applies to a single run folder, not to 2");
}

TEST_CASE("report: a folder that holds no run, a broken metrics line, an unfinished run",
          "[report]") {
  ftl::testing::TempDir dir;
  CHECK_THROWS_WITH(ftl::read_run(dir / "nothing"),
                    (dir / "nothing").string() +
                        ": not a run folder (no config.json; pass the output.dir of ftl finetune)");
  write_run(dir / "run");
  std::ofstream(dir / "run/metrics.jsonl", std::ios::app) << "{\"epoch\": 4, \"trai\n";
  CHECK_THROWS_WITH(ftl::read_run(dir / "run"),
                    Contains((dir / "run/metrics.jsonl").string() + ": line 4 is not valid JSON"));

  // No best.pt yet: the page still has its curves and says why the evaluation is missing.
  write_run(dir / "early");
  fs::remove(dir / "early/summary.json");
  ftl::ReportOptions options;
  options.run_dirs = {dir / "early"};
  const fs::path written = ftl::write_report(options, ftl::testing::quiet_logger());
  CHECK(written == dir / "early/report.html");
  const std::string html = ftl::testing::read_file(written);
  CHECK_THAT(html, Contains("not finished") && Contains("has not finished an epoch"));
  CHECK(occurrences(html, "<svg") == 3);

  options.evaluation = dir / "missing.json";
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    (dir / "missing.json").string() + ": cannot open file");
  // An evaluation read from a file holds no images: the page says so where they would be.
  std::ofstream(dir / "eval.json") << sample_evaluation().dump();
  options.evaluation = dir / "eval.json";
  const std::string from_file =
      ftl::testing::read_file(ftl::write_report(options, ftl::testing::quiet_logger()));
  CHECK_THAT(from_file, Contains("Highest losses") &&
                            Contains("No pictures: this evaluation was read from " +
                                     (dir / "eval.json").string() + ", which holds no images"));
  options.gallery = 0;  // and says nothing when no pictures were asked for
  const std::string without =
      ftl::testing::read_file(ftl::write_report(options, ftl::testing::quiet_logger()));
  CHECK_FALSE(Contains("Highest losses").match(without));
  options.gallery = ftl::kDefaultGallery;
  nlohmann::ordered_json broken = sample_evaluation();
  broken["calibration"][3].erase("count");
  std::ofstream(dir / "broken.json") << broken.dump();
  options.evaluation = dir / "broken.json";
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    (dir / "broken.json").string() +
                        ": \"calibration\" is not 15 bins of lower, upper, count, mean_confidence "
                        "and accuracy");

  std::ofstream(dir / "other.json") << R"({"accuracy": 1})";
  options.evaluation = dir / "other.json";
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    Contains("not an ftl evaluate report"));
}
