#include "ftl/report/svg_chart.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <utility>

namespace ftl {
namespace {

// Line chart geometry, in pixels.
constexpr double kChartWidth = 360;
constexpr double kChartHeight = 240;
constexpr double kLeft = 56;  // room for y tick labels
constexpr double kRight = 12;
constexpr double kTop = 28;     // room for the title
constexpr double kBottom = 58;  // room for x ticks, the x label and the legend
constexpr int kTargetTicks = 5;
constexpr double kLegendRow = 16;  // height of one more row of legend

// Heat map geometry: cells shrink as classes grow, labels go when cells get too small.
constexpr double kMatrixSide = 480;  // the matrix aims at this size
constexpr double kMaxCell = 48;
constexpr double kMinCell = 4;
constexpr double kMinLabelledCell = 10;  // class names need at least this
constexpr double kMinCountCell = 22;     // counts in cells need at least this
constexpr std::size_t kMaxLabelChars = 20;
constexpr double kCharWidth = 7;  // rough width of a 12px sans-serif character

// The heat map's two ends, as RGB.
constexpr int kLow[3] = {0xf7, 0xfb, 0xff};
constexpr int kHigh[3] = {0x08, 0x30, 0x6b};

// Tableau's ten colours, as matplotlib's default cycle: distinct and readable on white.
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

constexpr const char* kChartStyle = R"(
svg text { font-family: sans-serif; }
svg .title { font-size: 14px; font-weight: bold; fill: #222; }
svg .tick { font-size: 11px; fill: #444; }
svg .cell { font-size: 11px; }
svg .grid { stroke: #e8e8e8; }
svg .axis { stroke: #888; }
svg .frame { fill: none; stroke: #888; }
svg .count { font-size: 9px; fill: #444; }
svg .diagonal { stroke: #d62728; stroke-dasharray: 4 3; }
)";

// A "nice" step (1, 2 or 5 times a power of ten) for about kTargetTicks ticks over span.
double tick_step(double span) {
  const double raw = span / kTargetTicks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0}) {
    if (raw <= factor * power) return factor * power;
  }
  return 10 * power;
}

std::string number(double value) { return fmt::format("{:.4g}", value); }

// Cut at a character boundary: a UTF-8 continuation byte (10xxxxxx) never starts the cut.
std::string short_label(const std::string& label) {
  if (label.size() <= kMaxLabelChars) return label;
  std::size_t cut = kMaxLabelChars - 1;
  while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0U) == 0x80U) --cut;
  return label.substr(0, cut) + "~";
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string svg_chart_style() { return kChartStyle; }

std::string palette_colour(std::size_t i) { return kPalette[i % std::size(kPalette)]; }

std::string standalone_svg(const std::vector<Chart>& charts) {
  double width = 0;
  double height = 0;
  for (const Chart& chart : charts) {
    width += chart.width;
    height = std::max(height, chart.height);
  }
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\">\n<style>{2}</style>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
      width, height, kChartStyle);
  double x = 0;
  for (const Chart& chart : charts) {
    svg += fmt::format("<g transform=\"translate({},0)\">\n{}</g>\n", x, chart.svg);
    x += chart.width;
  }
  return svg + "</svg>\n";
}

std::string heat_colour(double share) {
  const double t = std::clamp(share, 0.0, 1.0);
  int rgb[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    rgb[i] = static_cast<int>(std::lround(kLow[i] + t * (kHigh[i] - kLow[i])));
  }
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

Chart line_chart_svg(const std::string& title, const std::string& x_label,
                     const std::vector<double>& x, const std::vector<Series>& series) {
  // Legend rows first: the chart grows by a row for each row the names need beyond one.
  std::vector<std::pair<double, double>> legend_at;  // (x, row) of each series' legend
  double legend_x = kLeft;
  double legend_rows = 1;
  for (const Series& line : series) {
    const double item = 28 + kCharWidth * static_cast<double>(line.name.size());
    if (legend_x > kLeft && legend_x + item > kChartWidth - kRight) {
      legend_x = kLeft;
      ++legend_rows;
    }
    legend_at.emplace_back(legend_x, legend_rows - 1);
    legend_x += item;
  }
  const double chart_height = kChartHeight + kLegendRow * (legend_rows - 1);

  double x_min = std::numeric_limits<double>::infinity();
  double x_max = -x_min;
  double y_min = x_min;
  double y_max = -x_min;
  for (const double value : x) {
    x_min = std::min(x_min, value);
    x_max = std::max(x_max, value);
  }
  for (const Series& line : series) {
    for (const double value : line.values) {
      if (!std::isfinite(value)) continue;
      y_min = std::min(y_min, value);
      y_max = std::max(y_max, value);
    }
  }
  if (!std::isfinite(x_min)) x_min = x_max = 1;
  if (!std::isfinite(y_min)) y_min = y_max = 0;
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) {  // a flat line still gets a scale
    const double pad = y_min == 0 ? 1 : std::abs(y_min) * 0.1;
    y_min -= pad;
    y_max += pad;
  }
  const double y_step = tick_step(y_max - y_min);
  y_min = std::floor(y_min / y_step) * y_step;
  y_max = std::ceil(y_max / y_step) * y_step;
  const double x_step = std::max(1.0, std::ceil(tick_step(x_max - x_min)));

  const double plot_width = kChartWidth - kLeft - kRight;
  const double plot_height = kChartHeight - kTop - kBottom;
  const auto px = [&](double value) {
    return kLeft + (value - x_min) / (x_max - x_min) * plot_width;
  };
  const auto py = [&](double value) {
    return kTop + plot_height - (value - y_min) / (y_max - y_min) * plot_height;
  };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" role=\"img\" aria-label=\"{2}\">\n"
      "<text x=\"{3}\" y=\"18\" class=\"title\">{2}</text>\n",
      kChartWidth, chart_height, xml_escape(title), kLeft);
  // Counted ticks: adding a step to a value it cannot move (values one ulp apart) never ends.
  const auto y_ticks = static_cast<int>(std::lround((y_max - y_min) / y_step));
  for (int k = 0; k <= y_ticks; ++k) {
    const double tick = y_min + k * y_step;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" class=\"grid\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" class=\"tick\" text-anchor=\"end\">{5}</text>\n",
        kLeft, py(tick), kLeft + plot_width, kLeft - 6, py(tick) + 4, number(tick));
  }
  for (double tick = std::ceil(x_min); tick <= x_max + 1e-9; tick += x_step) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" class=\"axis\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" class=\"tick\" text-anchor=\"middle\">{4}</text>\n",
        px(tick), kTop + plot_height, kTop + plot_height + 4, kTop + plot_height + 16,
        number(tick));
  }
  svg += fmt::format(
      "<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{3}\" class=\"frame\"/>\n"
      "<text x=\"{4:.1f}\" y=\"{5:.1f}\" class=\"tick\" text-anchor=\"middle\">{6}</text>\n",
      kLeft, kTop, plot_width, plot_height, kLeft + plot_width / 2, kTop + plot_height + 30,
      xml_escape(x_label));

  for (std::size_t n = 0; n < series.size(); ++n) {
    const Series& line = series[n];
    std::string points;
    std::string dots;
    for (std::size_t i = 0; i < line.values.size() && i < x.size(); ++i) {
      if (!std::isfinite(line.values[i])) continue;
      const std::string point = fmt::format("{:.1f},{:.1f}", px(x[i]), py(line.values[i]));
      points += (points.empty() ? "" : " ") + point;
      dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"{}\"/>", px(x[i]),
                          py(line.values[i]), line.colour);
    }
    svg +=
        fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>{}\n",
                    points, line.colour, dots);
    const auto [item_x, row] = legend_at[n];
    const double legend_y = kChartHeight - 10 + kLegendRow * row;
    svg += fmt::format(
        "<rect x=\"{0:.1f}\" y=\"{1:.1f}\" width=\"12\" height=\"4\" fill=\"{2}\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" class=\"tick\">{5}</text>\n",
        item_x, legend_y - 4, line.colour, item_x + 16, legend_y, xml_escape(line.name));
  }
  return {svg + "</svg>\n", kChartWidth, chart_height};
}

std::string heatmap_svg(const std::vector<std::string>& labels,
                        const std::vector<std::vector<std::int64_t>>& matrix) {
  const std::size_t n = labels.size();
  const double cell = std::clamp(kMatrixSide / static_cast<double>(std::max<std::size_t>(n, 1)),
                                 kMinCell, kMaxCell);
  const bool labelled = cell >= kMinLabelledCell;
  std::size_t longest = 0;
  for (const std::string& label : labels) longest = std::max(longest, short_label(label).size());
  const double margin = labelled ? 24 + kCharWidth * static_cast<double>(longest) : 24;
  const double left = margin;
  const double top = labelled ? 24 + kCharWidth * static_cast<double>(longest) * 0.75 : 24;
  const double side = cell * static_cast<double>(n);
  const double width = left + side + 12;
  const double height = top + side + 12;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"{0:.0f}\" "
      "height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" role=\"img\" "
      "aria-label=\"confusion matrix\">\n",
      width, height);
  for (std::size_t row = 0; row < n && row < matrix.size(); ++row) {
    std::int64_t total = 0;
    for (const std::int64_t count : matrix[row]) total += count;
    for (std::size_t column = 0; column < n && column < matrix[row].size(); ++column) {
      const std::int64_t count = matrix[row][column];
      const double share = total > 0 ? static_cast<double>(count) / static_cast<double>(total) : 0;
      const double x = left + cell * static_cast<double>(column);
      const double y = top + cell * static_cast<double>(row);
      svg += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
          "<title>{} -> {}: {} ({:.1f}% of the row)</title></rect>",
          x, y, cell, cell, heat_colour(share), xml_escape(labels[row]), xml_escape(labels[column]),
          count, 100 * share);
      if (cell >= kMinCountCell) {
        svg += fmt::format(
            "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"cell\" text-anchor=\"middle\" "
            "fill=\"{}\">{}</text>",
            x + cell / 2, y + cell / 2 + 4, share > 0.5 ? "#ffffff" : "#222222", count);
      }
    }
    svg += "\n";
  }
  if (labelled) {
    for (std::size_t i = 0; i < n; ++i) {
      const double middle = cell * static_cast<double>(i) + cell / 2;
      const std::string name = xml_escape(short_label(labels[i]));
      svg += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{}</text>"
          "<text transform=\"translate({:.1f},{:.1f}) rotate(-45)\" class=\"tick\">{}</text>\n",
          left - 6, top + middle + 4, name, left + middle, top - 6, name);
    }
  }
  svg += fmt::format(
      "<text x=\"4\" y=\"{:.1f}\" class=\"tick\" transform=\"rotate(-90 4 {:.1f})\" "
      "text-anchor=\"middle\" dy=\"8\">true class</text>\n",
      top + side / 2, top + side / 2);
  svg += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"middle\">"
      "predicted class</text>\n",
      left + side / 2, height - 1);
  return svg + "</svg>\n";
}

}  // namespace ftl
