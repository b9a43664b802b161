// ftl evaluate --report on a checkpoint of the ResNet-18 fixture: the page pictures the
// mistakes of highest loss as --errors-csv lists them, and draws the calibration bins of the
// evaluation JSON.
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <sstream>

#include "ftl/eval/evaluation_output.h"
#include "ftl/eval/mistakes.h"
#include "ftl/image/thumbnail.h"
#include "support/fixtures.h"
#include "support/page.h"
#include "support/samples.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using ftl::testing::occurrences;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

constexpr int kGallerySide = 24;
constexpr std::size_t kGalleryShots = 5;

// An untrained 3-class checkpoint: most of its answers are wrong, which is what a gallery needs.
fs::path untrained_checkpoint(const ftl::testing::TempDir& dir) {
  return ftl::testing::write_untrained_checkpoint(dir / "best.pt", kGallerySide, /*seed=*/2);
}

struct ErrorRow {
  std::string path;
  std::string truth;
  std::string predicted;
  double confidence = 0;
  double loss = 0;
};

std::vector<ErrorRow> error_rows(const std::string& csv) {
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  REQUIRE(line == "path,true_class,predicted_class,confidence,loss");
  std::vector<ErrorRow> rows;
  while (std::getline(lines, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    REQUIRE(fields.size() == 5);  // the test's paths hold no commas
    rows.push_back({fields[0], fields[1], fields[2], std::stod(fields[3]), std::stod(fields[4])});
  }
  return rows;
}

// The number after `word ` in a caption.
double caption_number(const std::string& caption, const std::string& word) {
  const std::size_t at = caption.rfind(word + " ");
  REQUIRE(at != std::string::npos);
  return std::stod(caption.substr(at + word.size() + 1));
}

}  // namespace

TEST_CASE("gallery: the highest losses of --errors-csv, pictured, and the calibration drawn",
          "[gallery][cli]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "test", 6, kGallerySide, 3);
  const fs::path checkpoint = untrained_checkpoint(dir);
  const auto result = run_command(
      ftl::testing::ftl_command("evaluate --checkpoint " + shell_quote(checkpoint.string()) +
                                " --data " + shell_quote((dir / "test").string()) + " --output " +
                                shell_quote((dir / "eval.json").string()) + " --errors-csv " +
                                shell_quote((dir / "errors.csv").string()) + " --report " +
                                shell_quote((dir / "page.html").string()) + " --gallery " +
                                std::to_string(kGalleryShots) + " --threads 2 --workers 1"));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto evaluation = nlohmann::ordered_json::parse(ftl::testing::read_file(dir / "eval.json"));
  const std::string html = ftl::testing::read_file(dir / "page.html");

  // The top losses: the rows of errors.csv sorted by loss, captioned with their figures.
  std::vector<ErrorRow> rows = error_rows(ftl::testing::read_file(dir / "errors.csv"));
  REQUIRE(rows.size() > kGalleryShots);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const ErrorRow& a, const ErrorRow& b) { return a.loss > b.loss; });
  const std::size_t confusions_at = html.find("<h3>Worst confusions as pictures</h3>");
  REQUIRE(confusions_at != std::string::npos);
  const auto top = ftl::testing::page_shots(html.substr(0, confusions_at));
  REQUIRE(top.size() == kGalleryShots);
  CHECK_THAT(html, Contains("The 5 of " + std::to_string(rows.size()) + " misclassified images"));
  for (std::size_t i = 0; i < top.size(); ++i) {
    INFO("shot " << i << ": " << top[i].caption);
    CHECK(top[i].path == rows[i].path);
    CHECK(top[i].caption.rfind("true " + rows[i].truth + " predicted " + rows[i].predicted + " ",
                               0) == 0);
    CHECK_THAT(caption_number(top[i].caption, rows[i].predicted),
               WithinAbs(rows[i].confidence, 6e-5));
    CHECK_THAT(caption_number(top[i].caption, "loss"), WithinAbs(rows[i].loss, 6e-5));
    CHECK(top[i].image.width == ftl::kThumbnailSide);
    CHECK(top[i].image.height == ftl::kThumbnailSide);
  }
  // Then up to six examples of each worst confusion: every picture decodes at the stated size.
  std::size_t examples = 0;
  for (const ftl::Confusion& confusion :
       ftl::worst_confusions(evaluation, ftl::kReportedConfusions)) {
    examples +=
        std::min<std::size_t>(ftl::kConfusionExamples, static_cast<std::size_t>(confusion.count));
  }
  CHECK(occurrences(html, "src=\"data:image/png;base64,") == kGalleryShots + examples);
  for (const auto& shot : ftl::testing::page_shots(html)) {
    CHECK(shot.image.width == ftl::kThumbnailSide);
  }
  CHECK(occurrences(html, "src=") == occurrences(html, "src=\"data:image/png;base64,"));
  CHECK(occurrences(html, "http") == occurrences(html, "http://www.w3.org/2000/svg"));

  // The calibration bins: all the images, their weighted gaps the ECE, one bar each.
  const auto& bins = evaluation.at("calibration");
  REQUIRE(bins.size() == 15);
  std::int64_t counted = 0;
  double ece = 0;
  std::size_t filled = 0;
  const auto samples = evaluation.at("num_samples").get<double>();
  for (const auto& bin : bins) {
    const auto count = bin.at("count").get<std::int64_t>();
    counted += count;
    if (count == 0) continue;
    ++filled;
    const double accuracy = bin.at("accuracy").get<double>();
    const double confidence = bin.at("mean_confidence").get<double>();
    ece += static_cast<double>(count) / samples * std::abs(accuracy - confidence);
    CHECK_THAT(html,
               Contains(fmt::format("<title>confidence {:.3f}-{:.3f}: {} images, accuracy "
                                    "{:.4f}, mean confidence {:.4f}</title>",
                                    bin.at("lower").get<double>(), bin.at("upper").get<double>(),
                                    count, accuracy, confidence)));
  }
  CHECK(counted == evaluation.at("num_samples").get<std::int64_t>());
  CHECK_THAT(evaluation.at("ece").get<double>(), WithinAbs(ece, 1e-12));
  CHECK(occurrences(html, "<rect class=\"bin\"") == filled);
}

TEST_CASE("gallery: --gallery 0 pictures nothing, and a size past the limit is refused",
          "[gallery][cli]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "test", 2, kGallerySide, 4);
  const fs::path checkpoint = untrained_checkpoint(dir);
  const std::string base = "evaluate --checkpoint " + shell_quote(checkpoint.string()) +
                           " --data " + shell_quote((dir / "test").string()) + " --report " +
                           shell_quote((dir / "page.html").string());
  REQUIRE(run_command(ftl::testing::ftl_command(base + " --gallery 0")).exit_code == 0);
  const std::string html = ftl::testing::read_file(dir / "page.html");
  CHECK_THAT(html, Contains("Reliability (ECE"));
  CHECK_FALSE(Contains("Highest losses").match(html));
  CHECK(occurrences(html, "data:image/png") == 0);

  const auto refused = run_command(ftl::testing::ftl_command(base + " --gallery 1001"));
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Contains("ftl: --gallery: Value 1001 not in range 0 to 1000"));
}

TEST_CASE("gallery: ftl report evaluates best.pt and pictures the --gallery N highest losses",
          "[gallery][cli]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_run(dir / "run");
  ftl::testing::write_untrained_checkpoint(dir / "run/checkpoints/best.pt", kGallerySide,
                                           /*seed=*/2);
  ftl::testing::write_shapes(dir / "test", 4, kGallerySide, 5);
  const std::string base = "report " + shell_quote((dir / "run").string()) + " --data " +
                           shell_quote((dir / "test").string()) + " --threads 2";
  const auto result = run_command(ftl::testing::ftl_command(base + " --gallery 3"));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const std::string html = ftl::testing::read_file(dir / "run/report.html");
  CHECK_THAT(html, Contains("Learning curves") && Contains("Reliability (ECE"));
  const std::size_t confusions_at = html.find("<h3>Worst confusions as pictures</h3>");
  REQUIRE(confusions_at != std::string::npos);
  const auto top = ftl::testing::page_shots(html.substr(0, confusions_at));
  REQUIRE(top.size() == 3);
  for (std::size_t i = 0; i < top.size(); ++i) {
    CHECK(top[i].image.width == ftl::kThumbnailSide);
    CHECK(top[i].path.rfind((dir / "test").string(), 0) == 0);
    if (i > 0)
      CHECK(caption_number(top[i - 1].caption, "loss") >= caption_number(top[i].caption, "loss"));
  }

  REQUIRE(run_command(ftl::testing::ftl_command(base + " --gallery 0")).exit_code == 0);
  CHECK(occurrences(ftl::testing::read_file(dir / "run/report.html"), "data:image/png") == 0);
  const auto refused = run_command(ftl::testing::ftl_command(base + " --gallery -1"));
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.output, Contains("ftl: --gallery: Value -1 not in range 0 to 1000"));
}
