#include "ftl/report/reliability_diagram.h"

#include <catch2/catch.hpp>

#include "ftl/eval/metrics.h"
#include "support/page.h"

using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;

namespace {

// The numbers of an attribute on each <rect class="bin">, in order.
std::vector<double> bar_attribute(const std::string& svg, const std::string& name) {
  std::vector<double> values;
  const std::string open = "<rect class=\"bin\"";
  for (std::size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const std::size_t value = svg.find(" " + name + "=\"", at) + name.size() + 3;
    values.push_back(std::stod(svg.substr(value)));
  }
  return values;
}

}  // namespace

TEST_CASE("reliability diagram: one bar per filled bin, as high as its accuracy", "[reliability]") {
  std::vector<ftl::CalibrationBin> bins(15);
  for (std::size_t b = 0; b < bins.size(); ++b) {
    bins[b].lower = static_cast<double>(b) / 15;
    bins[b].upper = static_cast<double>(b + 1) / 15;
  }
  bins[7] = {7.0 / 15, 8.0 / 15, 4, 0.51, 0.25};
  bins[12] = {12.0 / 15, 13.0 / 15, 10, 0.83, 0.9};
  bins[14] = {14.0 / 15, 1.0, 86, 0.99, 1.0};
  const std::string svg = ftl::reliability_svg(bins, 0.0421);
  CHECK_THAT(svg, Contains("Reliability (ECE 0.0421)") && Contains("class=\"diagonal\""));
  CHECK(ftl::testing::occurrences(svg, "<rect class=\"bin\"") == 3);
  CHECK_THAT(svg, Contains("<title>confidence 0.467-0.533: 4 images, accuracy 0.2500, mean "
                           "confidence 0.5100</title>"));
  CHECK_THAT(svg, Contains(">86</text>"));  // each bar's count above it
  const std::vector<double> heights = bar_attribute(svg, "height");
  const std::vector<double> tops = bar_attribute(svg, "y");
  const std::vector<double> lefts = bar_attribute(svg, "x");
  REQUIRE(heights.size() == 3);
  // Heights in proportion to accuracy, bars standing on one baseline, placed by confidence.
  const double full = heights[2];
  CHECK_THAT(heights[0], WithinAbs(0.25 * full, 1e-3));
  CHECK_THAT(heights[1], WithinAbs(0.9 * full, 1e-3));
  CHECK_THAT(tops[0] + heights[0], WithinAbs(tops[2] + heights[2], 1e-3));
  CHECK_THAT((lefts[1] - lefts[0]) / (lefts[2] - lefts[0]), WithinAbs(5.0 / 7.0, 1e-3));
}

TEST_CASE("reliability diagram: large counts are shortened to fit above a bar", "[reliability]") {
  std::vector<ftl::CalibrationBin> bins(15);
  const std::int64_t counts[] = {999, 1949, 12345, 2500000};
  for (std::size_t b = 0; b < 4; ++b) {
    bins[b] = {static_cast<double>(b) / 15, static_cast<double>(b + 1) / 15, counts[b], 0.5, 0.5};
  }
  const std::string svg = ftl::reliability_svg(bins, 0);
  CHECK_THAT(svg, Contains(">999</text>") && Contains(">1.9k</text>") && Contains(">12k</text>") &&
                      Contains(">2.5M</text>"));
  CHECK_THAT(svg, Contains(": 12345 images"));  // the title keeps the exact count
}
