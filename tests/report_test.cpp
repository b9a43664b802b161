// HTML reports: what a run's page holds, that it needs nothing outside the file, how bad run
// folders fail, and that a real browser (headless Chromium) draws it.
#include "ftl/report/report.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "ftl/eval/evaluate.h"
#include "ftl/eval/metrics.h"
#include "ftl/image/image.h"
#include "ftl/report/svg_chart.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

/// CTest reports a test that exits with this code as skipped (SKIP_RETURN_CODE).
constexpr int kSkipped = 77;

const std::vector<std::string> kClasses = {"boot", "<b>&co", "sandal"};

// A finished three-epoch run folder, written as ftl finetune writes one.
void write_run(const fs::path& dir) {
  fs::create_directories(dir / "checkpoints");
  std::ofstream(dir / "config.json")
      << R"({"data": {"train": "t", "val": "v"}, "train": {"epochs": 3}})";
  std::ofstream metrics(dir / "metrics.jsonl");
  for (int epoch = 1; epoch <= 3; ++epoch) {
    metrics << nlohmann::json{{"epoch", epoch},
                              {"train_loss", 1.0 / epoch},
                              {"train_acc", 0.5 + 0.1 * epoch},
                              {"val_loss", 1.2 / epoch},
                              {"val_acc", 0.45 + 0.1 * epoch},
                              {"lr", 0.01},
                              {"lr_end", 0.01 / epoch},
                              {"seconds", 2.0},
                              {"images_per_s", 100.0}}
                   .dump()
            << "\n";
  }
  std::ofstream(dir / "summary.json")
      << R"({"stop_reason": "completed", "stop_message": "trained all 3 epochs", "epochs": 3,
             "best_metric": "val_acc", "best_epoch": 3, "best_value": 0.75})";
  std::ofstream(dir / "data.json")
      << R"({"train": {"path": "t", "images": 30, "classes": {"boot": 10, "<b>&co": 10, "sandal": 10}},
             "val": {"path": "v", "images": 150, "classes": {"boot": 50, "<b>&co": 50, "sandal": 50}}})";
}

// An evaluation with an almost perfect diagonal: the heat map's darkest colour shows.
nlohmann::ordered_json sample_evaluation() {
  ftl::MetricsAccumulator metrics(3);
  std::vector<float> logits;
  std::vector<std::int64_t> labels;
  for (std::int64_t label = 0; label < 3; ++label) {
    for (int i = 0; i < 50; ++i) {
      const std::int64_t predicted = label == 2 && i == 0 ? 0 : label;  // one sandal -> boot
      for (std::int64_t c = 0; c < 3; ++c) logits.push_back(c == predicted ? 3.0F : 0.0F);
      labels.push_back(label);
    }
  }
  metrics.add(torch::tensor(logits).view({150, 3}), torch::tensor(labels));
  return ftl::metrics_report(metrics, kClasses);
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Chromium as Debian installs it, or FTL_CHROMIUM; empty when there is none.
std::string find_chromium() {
  if (const char* chosen = std::getenv("FTL_CHROMIUM")) return chosen;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const auto found = run_command(std::string("command -v ") + name);
    if (found.exit_code == 0 && !found.output.empty()) {
      return found.output.substr(0, found.output.find('\n'));
    }
  }
  return "";
}

// Pixels within `tolerance` of an RGB colour.
std::size_t pixels_near(const ftl::Image& image, int red, int green, int blue, int tolerance) {
  std::size_t n = 0;
  for (std::size_t i = 0; i + 2 < image.pixels.size(); i += 3) {
    if (std::abs(image.pixels[i] - red) <= tolerance &&
        std::abs(image.pixels[i + 1] - green) <= tolerance &&
        std::abs(image.pixels[i + 2] - blue) <= tolerance) {
      ++n;
    }
  }
  return n;
}

}  // namespace

TEST_CASE("report: a run's page holds curves, heat map, tables and config, nothing external",
          "[report]") {
  ftl::testing::TempDir dir;
  write_run(dir / "run");
  const ftl::RunRecord run = ftl::read_run(dir / "run");
  REQUIRE(run.epochs.size() == 3);
  const std::string html = ftl::run_report_html(run, sample_evaluation());

  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(count(html, "<svg") == 4);       // loss, accuracy, lr, confusion matrix
  CHECK(count(html, "<polyline") == 6);  // train and val (first and last lr) in each chart
  CHECK(count(html, "<circle") == 18);   // one point per epoch on each line
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
  CHECK(count(page, "<svg") == 1);
  CHECK_THAT(page, Contains("Per class") && Contains("macro avg"));
}

TEST_CASE("report: charts survive one epoch, flat lines and missing values", "[report]") {
  const std::string one = ftl::line_chart_svg("Loss", "epoch", {1}, {{"train", {0.5}, "#000"}}).svg;
  CHECK(count(one, "<circle") == 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::string gaps =
      ftl::line_chart_svg("Acc", "epoch", {1, 2, 3}, {{"val", {nan, 0.5, nan}, "#000"}}).svg;
  CHECK(count(gaps, "<circle") == 1);
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
  CHECK(count(close, "<circle") == 2);
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
  CHECK(count(html, "<svg") == 3);       // val accuracy, val loss, train loss
  CHECK(count(html, "<polyline") == 6);  // one line per run in each
  CHECK(count(html, "<circle") == 3 * (3 + 4));
  CHECK_THAT(html, Contains("Validation accuracy") && Contains(">scratch_from_random_weights<"));
  const std::string svg = ftl::testing::read_file(options.svg);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1080\"", 0) == 0);
  CHECK_THAT(svg, Contains("<style>") && Contains("Training loss"));
  // The two long names do not fit on one legend row: the charts grow a row.
  CHECK_THAT(svg, Contains("height=\"256\""));

  options.output.clear();
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    "report: give --output FILE to compare 2 runs (the page belongs to no single "
                    "run folder)");
  options.output = dir / "compare.html";
  options.data = dir / "test";
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    "report: --evaluation and --data apply to a single run folder, not to 2");
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
  CHECK(count(html, "<svg") == 3);

  options.evaluation = dir / "missing.json";
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    (dir / "missing.json").string() + ": cannot open file");
  std::ofstream(dir / "other.json") << R"({"accuracy": 1})";
  options.evaluation = dir / "other.json";
  CHECK_THROWS_WITH(ftl::write_report(options, ftl::testing::quiet_logger()),
                    Contains("not an ftl evaluate report"));
}

TEST_CASE("report: headless Chromium draws the page", "[report][browser]") {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    std::cerr << "SKIPPED: no Chromium found (scripts/setup.sh installs Debian's chromium; "
                 "FTL_CHROMIUM names another): the report was not rendered\n";
    std::exit(kSkipped);
  }
  ftl::testing::TempDir dir;
  write_run(dir / "run");
  const fs::path html = dir / "report.html";
  std::ofstream(html) << ftl::run_report_html(ftl::read_run(dir / "run"), sample_evaluation());
  const fs::path png = dir / "report.png";
  constexpr int kWidth = 1200;
  constexpr int kHeight = 1400;
  const auto rendered = run_command(
      "timeout 120 " + shell_quote(chromium) +
      " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run "
      "--user-data-dir=" +
      shell_quote((dir / "profile").string()) + " --window-size=" + std::to_string(kWidth) + "," +
      std::to_string(kHeight) + " --screenshot=" + shell_quote(png.string()) + " " +
      shell_quote("file://" + html.string()) + " 2>&1");
  INFO(rendered.output);
  REQUIRE(fs::exists(png));
  const ftl::Image image = ftl::read_image(png);
  CHECK(image.width == kWidth);
  CHECK(image.height == kHeight);
  const std::size_t total = image.pixels.size() / 3;
  const std::size_t white = pixels_near(image, 255, 255, 255, 0);
  CHECK(total - white > total / 50);                              // not blank: text, charts, cells
  CHECK(pixels_near(image, 0x08, 0x30, 0x6b, 12) > 3 * 40 * 40);  // three dark diagonal cells
  CHECK(pixels_near(image, 0x1f, 0x77, 0xb4, 12) > 100);          // the train curves
  CHECK(pixels_near(image, 0xd6, 0x27, 0x28, 12) > 100);          // the val curves
}
