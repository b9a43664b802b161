// The run folder (output.dir): the files a run owns there, and the checks that keep one run
// from writing over another unasked.
#pragma once

#include <filesystem>

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

/// Whether `dir` holds a run's results (config.json, metrics, summary.json, checkpoints/).
bool holds_run(const std::filesystem::path& dir);

/// Whether checkpoints/ in `dir` holds any .pt file.
bool holds_checkpoint_files(const std::filesystem::path& dir);

/// checkpoints/last.pt of the run in `dir`: the newest weights with the resume state.
std::filesystem::path last_checkpoint_path(const std::filesystem::path& dir);

/// Throws IoError naming the first result of an earlier run found in `dir`.
void check_run_dir_free(const std::filesystem::path& dir);

/// Removes a run's results from `dir`, checkpoints first (a kill midway must not leave a
/// last.pt without its metrics); other files there are left alone. Throws IoError.
void remove_run_outputs(const std::filesystem::path& dir);

/// Creates `dir` and its checkpoints/ folder; throws IoError naming output.dir.
void create_run_dir(const std::filesystem::path& dir);

/// Removes the temporary files (.NAME.tmp-PID) that a killed atomic write left in `folder`.
void remove_stale_temporaries(const std::filesystem::path& folder);

}  // namespace ftl
