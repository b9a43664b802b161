// The names of the files in a run folder (output.dir). Training writes them; evaluation, the
// report and inspect read them, so they live below all three.
#pragma once

namespace ftl {

inline constexpr const char* kCheckpointDir = "checkpoints";
inline constexpr const char* kBestName = "best.pt";
inline constexpr const char* kLastName = "last.pt";
inline constexpr const char* kSummaryName = "summary.json";
inline constexpr const char* kConfigName = "config.json";     // the resolved config
inline constexpr const char* kMetricsName = "metrics.jsonl";  // one JSON line per epoch
inline constexpr const char* kDataName = "data.json";         // the datasets: paths, class counts
inline constexpr const char* kReportName = "report.html";     // ftl report's default output
inline constexpr const char* kBadImagesName = "bad_images.txt";    // images skipped, with reasons
inline constexpr const char* kTrainSplitName = "train_split.csv";  // data.val_fraction's split
inline constexpr const char* kValSplitName = "val_split.csv";
inline constexpr const char* kTimingName = "timing.json";  // where the last process's time went

}  // namespace ftl
