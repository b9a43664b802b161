#include "ftl/report/reliability_diagram.h"

#include <spdlog/fmt/fmt.h>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

// Geometry, in pixels: a square plot, so that the diagonal is at 45 degrees.
constexpr double kDiagramWidth = 340;
constexpr double kDiagramHeight = 340;
constexpr double kDiagramLeft = 48;  // room for the accuracy ticks and label
constexpr double kDiagramTop = 30;   // room for the title
constexpr double kDiagramPlot = 260;
constexpr double kDiagramBarGap = 1;  // between neighbouring bars
constexpr int kDiagramTicks = 5;      // 0, 0.2, ... 1 on both axes
constexpr const char* kDiagramBarColour = "#1f77b4";

double x_of(double confidence) { return kDiagramLeft + confidence * kDiagramPlot; }
double y_of(double accuracy) { return kDiagramTop + (1 - accuracy) * kDiagramPlot; }

std::string diagram_axes() {
  std::string svg;
  for (int i = 0; i <= kDiagramTicks; ++i) {
    const double value = static_cast<double>(i) / kDiagramTicks;
    svg += fmt::format(
        "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>"
        "<text class=\"tick\" x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5:.1f}</text>\n"
        "<text class=\"tick\" x=\"{6}\" y=\"{7}\" text-anchor=\"middle\">{5:.1f}</text>\n",
        kDiagramLeft, y_of(value), kDiagramLeft + kDiagramPlot, kDiagramLeft - 6, y_of(value) + 4,
        value, x_of(value), kDiagramTop + kDiagramPlot + 16);
  }
  svg += fmt::format(
      "<text class=\"tick\" x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">confidence</text>\n"
      "<text class=\"tick\" x=\"14\" y=\"{2}\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 14 {2})\">accuracy</text>\n",
      kDiagramLeft + kDiagramPlot / 2, kDiagramTop + kDiagramPlot + 34,
      kDiagramTop + kDiagramPlot / 2);
  return svg;
}

// A count that fits above a bar 16 px wide: three digits at most, "1.9k" beyond (the bar's
// title has the exact figure).
std::string short_count(std::int64_t count) {
  constexpr std::int64_t kThousand = 1000;
  constexpr std::int64_t kMillion = 1000000;
  if (count < kThousand) return std::to_string(count);
  if (count < 10 * kThousand) return fmt::format("{:.1f}k", static_cast<double>(count) / kThousand);
  if (count < kMillion) return std::to_string(count / kThousand) + "k";
  return fmt::format("{:.1f}M", static_cast<double>(count) / kMillion);
}

bool is_bin(const nlohmann::ordered_json& bin) {
  if (!bin.is_object()) return false;
  for (const char* key : {"lower", "upper"}) {
    if (!bin.contains(key) || !bin.at(key).is_number()) return false;
  }
  if (!bin.contains("count") || !bin.at("count").is_number_integer() ||
      bin.at("count").get<std::int64_t>() < 0) {
    return false;
  }
  for (const char* key : {"mean_confidence", "accuracy"}) {
    if (!bin.contains(key) || !(bin.at(key).is_number() || bin.at(key).is_null())) return false;
  }
  return true;
}

double figure_of(const nlohmann::ordered_json& bin, const char* key) {
  return bin.at(key).is_null() ? 0.0 : bin.at(key).get<double>();
}

}  // namespace

std::vector<CalibrationBin> calibration_from_json(const nlohmann::ordered_json& calibration,
                                                  const std::string& source) {
  constexpr auto kBins = static_cast<std::size_t>(MetricsAccumulator::kCalibrationBins);
  bool valid = calibration.is_array() && calibration.size() == kBins;
  for (std::size_t b = 0; valid && b < calibration.size(); ++b) valid = is_bin(calibration[b]);
  if (!valid) {
    throw DataError(source + ": \"calibration\" is not " + std::to_string(kBins) +
                    " bins of lower, upper, count, mean_confidence and accuracy");
  }
  std::vector<CalibrationBin> bins;
  for (const auto& bin : calibration) {
    bins.push_back({bin.at("lower").get<double>(), bin.at("upper").get<double>(),
                    bin.at("count").get<std::int64_t>(), figure_of(bin, "mean_confidence"),
                    figure_of(bin, "accuracy")});
  }
  return bins;
}

std::string reliability_svg(const std::vector<CalibrationBin>& bins, double ece) {
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"reliability\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\">\n"
      "<text class=\"title\" x=\"{2}\" y=\"18\">Reliability (ECE {3:.4f})</text>\n",
      kDiagramWidth, kDiagramHeight, kDiagramLeft, ece);
  svg += diagram_axes();
  for (const CalibrationBin& bin : bins) {
    if (bin.count == 0) continue;
    const double left = x_of(bin.lower) + kDiagramBarGap / 2;
    const double width = (bin.upper - bin.lower) * kDiagramPlot - kDiagramBarGap;
    const double height = bin.accuracy * kDiagramPlot;
    svg += fmt::format(
        "<rect class=\"bin\" x=\"{0:.2f}\" y=\"{1:.4f}\" width=\"{2:.2f}\" height=\"{3:.4f}\" "
        "fill=\"{4}\"><title>confidence {5:.3f}-{6:.3f}: {7} images, accuracy {8:.4f}, mean "
        "confidence {9:.4f}</title></rect>\n"
        "<text class=\"count\" x=\"{10:.2f}\" y=\"{11:.2f}\" text-anchor=\"middle\">{12}</text>\n",
        left, y_of(bin.accuracy), width, height, kDiagramBarColour, bin.lower, bin.upper, bin.count,
        bin.accuracy, bin.mean_confidence, left + width / 2, y_of(bin.accuracy) - 3,
        short_count(bin.count));
  }
  svg += fmt::format(
      "<line class=\"diagonal\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{3}\"/>\n"
      "<rect class=\"frame\" x=\"{0}\" y=\"{3}\" width=\"{4}\" height=\"{4}\"/>\n",
      x_of(0), y_of(0), x_of(1), y_of(1), kDiagramPlot);
  return svg + "</svg>\n";
}

}  // namespace ftl
