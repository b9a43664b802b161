// HTML reports: one self-contained file (inline SVG and CSS, no scripts, no external assets)
// that a person opens in any browser. `ftl report` describes a whole run: learning curves, the
// evaluation of its best checkpoint, its config and datasets. `ftl evaluate --report` writes the
// evaluation part alone.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ftl/eval/inference_options.h"
#include "ftl/eval/mistakes.h"

namespace ftl {

/// What a run folder records, as read back from its files.
struct RunRecord {
  std::filesystem::path dir;
  nlohmann::ordered_json config;               // config.json
  std::vector<nlohmann::ordered_json> epochs;  // metrics.jsonl, one object per epoch
  nlohmann::ordered_json summary;              // summary.json; null while the run is going
  nlohmann::ordered_json data;                 // data.json; null for runs made before it
};

/// Reads a run folder. Throws DataError naming the folder when it holds no run, or the file
/// and line that is not valid JSON.
RunRecord read_run(const std::filesystem::path& dir);

/// The page for `ftl evaluate --report`: the report of evaluate_checkpoint (headline figures,
/// reliability diagram, confusion heat map, per-class table, worst confusions) and, when
/// given, the gallery of its mistakes.
std::string evaluation_report_html(const nlohmann::ordered_json& evaluation,
                                   const std::optional<Gallery>& gallery = std::nullopt);

/// The page for `ftl report`: summary, learning curves (loss, accuracy, lr; train and val),
/// the evaluation when given (null: left out, with `missing_evaluation` saying why) with its
/// gallery when given, the datasets and the config.
std::string run_report_html(const RunRecord& run, const nlohmann::ordered_json& evaluation,
                            const std::string& missing_evaluation = "",
                            const std::optional<Gallery>& gallery = std::nullopt);

/// The page for `ftl report` given several runs: a table of how each ended and their learning
/// curves on shared charts (validation accuracy and loss, training loss), one line per run.
std::string comparison_report_html(const std::vector<RunRecord>& runs);

struct ReportOptions {
  std::vector<std::filesystem::path> run_dirs;  // one run folder, or several to compare
  std::filesystem::path output;      // the HTML file; empty = <run_dir>/report.html (one run)
  std::filesystem::path svg;         // also write the learning curves here as one SVG file
  std::filesystem::path evaluation;  // an `ftl evaluate --output` JSON to show; empty = evaluate
                                     // checkpoints/best.pt on `data`
  std::filesystem::path data;        // ImageFolder to evaluate on; empty = the run's data.val
  InferenceOptions inference;        // how best.pt is evaluated: batch size, workers, threads,
                                     // device
  std::size_t gallery = kDefaultGallery;  // mistakes of the highest loss pictured (and examples
                                          // of the worst confusions); 0 = no pictures
};

/// Reads the run folders in order (read_run); throws ConfigError when there is none.
std::vector<RunRecord> read_runs(const std::vector<std::filesystem::path>& dirs);

/// Writes the report of one run, or the comparison of several (atomically), and returns its
/// path. A run with no best.pt yet gets a page without the evaluation; a missing data folder
/// or evaluation file is an error, and so are an evaluation or a data folder with several runs,
/// and several runs without an output file (ConfigError).
std::filesystem::path write_report(const ReportOptions& options, spdlog::logger& log);

/// The same for runs already read (read_runs of options.run_dirs), so that a caller can check
/// its own arguments between reading the runs and writing the page.
std::filesystem::path write_report(const ReportOptions& options, const std::vector<RunRecord>& runs,
                                   spdlog::logger& log);

}  // namespace ftl
