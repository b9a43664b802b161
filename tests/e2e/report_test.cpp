// HTML reports in a real browser: headless Chromium draws a run's page, and the pictures of an
// evaluation's page.
#include "ftl/report/report.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "ftl/eval/mistakes.h"
#include "ftl/image/image.h"
#include "ftl/image/thumbnail.h"
#include "support/fixtures.h"
#include "support/samples.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using ftl::testing::kSkipped;
using ftl::testing::run_command;
using ftl::testing::sample_evaluation;
using ftl::testing::shell_quote;
using ftl::testing::write_run;

namespace {

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

// Chromium, or a skip of the test (CTest's code 77) saying why there is none.
std::string chromium_or_skip() {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    std::cerr << "SKIPPED: no Chromium found (scripts/setup.sh installs Debian's chromium; "
                 "FTL_CHROMIUM names another): the report was not rendered\n";
    std::exit(kSkipped);
  }
  return chromium;
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

// Draws `html` headless at width x height into dir/name.png and reads the picture back. Once,
// under the sanitized suite's load, a picture held about 2.3 of the 3 dark cells the page draws
// (not reproduced since): Chromium now finishes every compositor stage and the page's load
// (in virtual time, so no slower) before it takes the picture.
ftl::Image screenshot(const std::string& chromium, const ftl::testing::TempDir& dir,
                      const std::string& html_text, const std::string& name, int width,
                      int height) {
  const fs::path html = dir / (name + ".html");
  std::ofstream(html) << html_text;
  const fs::path png = dir / (name + ".png");
  const auto rendered = run_command(
      "timeout 120 " + shell_quote(chromium) +
      " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run "
      "--run-all-compositor-stages-before-draw --virtual-time-budget=10000 "
      "--user-data-dir=" +
      shell_quote((dir / "profile").string()) + " --window-size=" + std::to_string(width) + "," +
      std::to_string(height) + " --screenshot=" + shell_quote(png.string()) + " " +
      shell_quote("file://" + html.string()) + " 2>&1");
  INFO(rendered.output);
  REQUIRE(fs::exists(png));
  return ftl::read_image(png);
}

}  // namespace

TEST_CASE("report: headless Chromium draws the page", "[report][browser]") {
  const std::string chromium = chromium_or_skip();
  ftl::testing::TempDir dir;
  write_run(dir / "run");
  constexpr int kWidth = 1200;
  constexpr int kHeight = 1800;  // the confusion matrix ends near 1320 px: room to spare
  const ftl::Image image = screenshot(
      chromium, dir, ftl::run_report_html(ftl::read_run(dir / "run"), sample_evaluation()),
      "report", kWidth, kHeight);
  CHECK(image.width == kWidth);
  CHECK(image.height == kHeight);
  const std::size_t total = image.pixels.size() / 3;
  const std::size_t white = pixels_near(image, 255, 255, 255, 0);
  CHECK(total - white > total / 50);                              // not blank: text, charts, cells
  CHECK(pixels_near(image, 0x08, 0x30, 0x6b, 12) > 3 * 40 * 40);  // three dark diagonal cells
  CHECK(pixels_near(image, 0x1f, 0x77, 0xb4, 12) > 100);          // the train curves
  CHECK(pixels_near(image, 0xd6, 0x27, 0x28, 12) > 100);          // the val curves
}

TEST_CASE("report: headless Chromium draws the gallery and the reliability diagram",
          "[report][browser][gallery]") {
  const std::string chromium = chromium_or_skip();
  ftl::testing::TempDir dir;
  // Eight top losses in a colour nothing else on the page has.
  constexpr std::size_t kShots = 8;
  ftl::Image magenta{ftl::kThumbnailSide, ftl::kThumbnailSide, {}};
  for (int i = 0; i < ftl::kThumbnailSide * ftl::kThumbnailSide; ++i) {
    magenta.pixels.insert(magenta.pixels.end(), {255, 0, 255});
  }
  ftl::Gallery gallery;
  gallery.mistakes = kShots;
  for (std::size_t i = 0; i < kShots; ++i) {
    gallery.top_losses.push_back(
        {dir / ("shot" + std::to_string(i) + ".png"), "cat", "emu", 0.9, 2.0, magenta, ""});
  }
  const ftl::Image image =
      screenshot(chromium, dir, ftl::evaluation_report_html(sample_evaluation(), gallery),
                 "gallery", 1200, 2400);
  const std::size_t shot_pixels = ftl::kThumbnailSide * ftl::kThumbnailSide;
  CHECK(pixels_near(image, 255, 0, 255, 8) >= kShots * shot_pixels * 9 / 10);
  // The evaluation page draws no curves: this blue is the diagram's bars (one bin holds all 150
  // images).
  CHECK(pixels_near(image, 0x1f, 0x77, 0xb4, 12) > 300);
}
