// The reliability diagram of an evaluation: how often the model is right at each confidence,
// against the diagonal where confidence and accuracy agree (Guo et al. 2017, figure 1). It
// shows at a glance what the ECE figure only summarises.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/eval/metrics.h"

namespace ftl {

/// The bins of an evaluation's "calibration" (evaluate.h); an empty bin's null figures read
/// as 0. Throws DataError naming `source` when they are not kCalibrationBins bins of lower,
/// upper, count, mean_confidence and accuracy.
std::vector<CalibrationBin> calibration_from_json(const nlohmann::ordered_json& calibration,
                                                  const std::string& source);

/// An SVG bar chart of the bins: each non-empty bin a bar over its confidence range, as high as
/// its accuracy, titled with its figures (a browser shows them on hover) and topped with its
/// count; the diagonal dashed; the ECE in the title. Same classes and fonts as svg_chart.h.
std::string reliability_svg(const std::vector<CalibrationBin>& bins, double ece);

}  // namespace ftl
