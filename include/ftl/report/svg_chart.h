// Charts as inline SVG for ftl's HTML reports: line charts for learning curves and a heat map
// for confusion matrices. Plain SVG with fixed sizes, so a page shows them without scripts,
// external files or fonts beyond the browser's own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ftl {

/// Text made safe for HTML and SVG: & < > " ' escaped.
std::string xml_escape(const std::string& text);

/// One line of a line chart; `values[i]` belongs to the chart's x[i].
struct Series {
  std::string name;            // shown in the legend
  std::vector<double> values;  // same length as the chart's x
  std::string colour;          // CSS colour, e.g. "#1f77b4"
};

/// An SVG element and its size in pixels.
struct Chart {
  std::string svg;
  double width = 0;
  double height = 0;
};

/// A line chart of `series` against `x` (epochs), with axes, ticks, a legend (wrapped onto more
/// rows, and a taller chart, when the names do not fit) and a title. Non-finite values are
/// left out of the line.
Chart line_chart_svg(const std::string& title, const std::string& x_label,
                     const std::vector<double>& x, const std::vector<Series>& series);

/// A confusion matrix as a heat map: rows are true classes, columns predicted ones, each cell
/// shaded by its share of the row (recall on the diagonal) and labelled with its count when the
/// cells are large enough.
std::string heatmap_svg(const std::vector<std::string>& labels,
                        const std::vector<std::vector<std::int64_t>>& matrix);

/// The CSS rules the charts' classes need (.title, .tick, .grid, ...), for a page's <style> or a
/// standalone SVG file.
std::string svg_chart_style();

/// Charts made by line_chart_svg side by side in one standalone SVG file, styles included.
std::string standalone_svg(const std::vector<Chart>& charts);

/// A colour for the i-th of several runs or series, distinct for the first ten.
std::string palette_colour(std::size_t i);

/// The colour of a share in [0, 1]: white-blue at 0 to dark blue at 1.
std::string heat_colour(double share);

}  // namespace ftl
