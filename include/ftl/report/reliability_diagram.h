// The reliability diagram of an evaluation: how often the model is right at each confidence,
// against the diagonal where confidence and accuracy agree (Guo et al. 2017, figure 1). It
// shows at a glance what the ECE figure only summarises.
#pragma once

#include <string>
#include <vector>

#include "ftl/eval/metrics.h"

namespace ftl {

/// An SVG bar chart of the bins: each non-empty bin a bar over its confidence range, as high as
/// its accuracy, titled with its figures (a browser shows them on hover) and topped with its
/// count; the diagonal dashed; the ECE in the title. Same classes and fonts as svg_chart.h.
std::string reliability_svg(const std::vector<CalibrationBin>& bins, double ece);

}  // namespace ftl
