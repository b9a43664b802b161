// The subcommands of the ftl executable. Each has a setup_* function that registers its flags
// on the CLI11 app and binds them to an options struct, and a run_* function that calls the
// core library and returns the process exit code.
#pragma once

#include <spdlog/logger.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ftl/data/data_check.h"
#include "ftl/distributed/launch.h"
#include "ftl/eval/evaluate.h"
#include "ftl/eval/inference_options.h"
#include "ftl/eval/predict.h"
#include "ftl/export/export_options.h"
#include "ftl/report/report.h"
#include "ftl/serve/serve_options.h"
#include "ftl/train/lr_find.h"

namespace ftl::cli {

/// Documented exit codes (README, --help).
enum ExitCode : int {
  kExitOk = 0,            // success
  kExitRuntime = 1,       // runtime failure: data, model, file system
  kExitUsage = 2,         // usage or config error
  kExitQualityGate = 3,   // evaluate: a quality gate such as --min-accuracy was not met;
                          // export: the exported file's parity check failed (nothing written)
  kExitSignalBase = 128,  // finetune stopped by signal N after saving: 128 + N (130, 143)
};

inline constexpr const char* kExitCodeHelp =
    "Exit codes: 0 success, 1 runtime failure (predict, data check: any image failed; "
    "finetune: a rank of a distributed run failed or was lost), 2 usage "
    "or config error, 3 quality gate not met (evaluate --min-accuracy, --min-class-recall, "
    "--max-loss; export: the parity check, nothing written), 130/143 finetune stopped by "
    "SIGINT/SIGTERM after saving its resume state.";

struct FinetuneOptions {
  std::string config_path;             // --config; optional with --resume RUN_DIR
  std::vector<std::string> overrides;  // --set key=value, applied in order
  std::string resume;                  // --resume RUN_DIR or "auto"
  bool overwrite = false;              // --overwrite
  // --rank, --world-size, --local-rank, --master-addr, --master-port (a data-parallel run
  // started by hand); unset ones come from torchrun's or SLURM's environment. Its names are
  // the flags' (launch_flag_names), so that resolve_launch's messages quote them.
  LaunchFlags launch;
};

struct LrFindCliOptions {
  std::string config_path;                // --config (required)
  std::vector<std::string> overrides;     // --set key=value, applied in order
  LrFindOptions core;                     // --start, --end, --steps
  std::string output_prefix = "lr_find";  // --output-prefix: PREFIX.csv and PREFIX.svg
};

struct EvaluateCliOptions {
  EvaluateOptions core;  // --checkpoint, --data, --batch-size, --workers, --threads, --device,
                         // --top-k
  QualityGates gates;    // --min-accuracy, --min-class-recall, --max-loss
  std::string output;    // --output: the JSON report; empty = stdout only
  std::string format = "json";  // --format: what stdout gets, json or text
  std::string confusion_csv;    // --confusion-csv FILE
  std::string errors_csv;       // --errors-csv FILE
  std::string report;           // --report FILE: the evaluation as an HTML page
};

struct PredictCliOptions {
  PredictOptions core;             // --checkpoint, --top-k, --batch-size, --workers, --threads,
                                   // --device, --tta
  std::vector<std::string> paths;  // image files, folders, "-" for stdin
  std::string format = "jsonl";    // --format: jsonl or csv
};

struct ServeCliOptions {
  ServeOptions core;  // every flag; --log-format json also makes every log line JSON
};

struct DataCheckCliOptions {
  DataCheckOptions core;  // PATH, --workers
  bool json = false;      // --json
};

struct ExportCliOptions {
  ExportOptions core;             // --checkpoint, --output, --format, --precision, ...
  std::string batch = "dynamic";  // --batch N|dynamic, parsed into core.batch
  std::string python;             // --python; empty: $FTL_PYTHON, else the build's default
  std::string node;               // --node; empty: $FTL_NODE, else node on PATH
  std::string onnx_tools;         // --onnx-tools; empty: $FTL_ONNX_TOOLS, else the build's
};

struct InspectOptions {
  std::string file;          // the model or checkpoint
  bool json = false;         // --json
  bool groups = false;       // --groups: the layer-decay depths
  double layer_decay = 0.0;  // --layer-decay; 0 = the checkpoint's, else kShownLayerDecay
};

/// --threads, --device, --tta none|flip and --precision fp32|bf16, shared by every command
/// that runs a checkpoint (evaluate, predict, report, serve), bound to `compute`. The file whose
/// flags decide whether this CPU runs bf16 is taken from $FTL_CPUINFO when set (tests).
void add_compute_options(CLI::App& command, InferenceCompute& compute);

/// --batch-size and --workers, then the compute options, for the commands that run a
/// checkpoint over a set of images (evaluate, predict, report), bound to `options`.
void add_inference_options(CLI::App& command, InferenceOptions& options);

/// A flag whose words name a typed choice: CLI11 checks the word, and the field gets its value.
/// `Field` may be a std::optional<Choice> left empty unless the flag is given (name Choice then).
template <typename Field, typename Choice = Field>
void add_choice(CLI::App& command, const std::string& flag, Field& field,
                const std::map<std::string, Choice>& words, const std::string& default_word,
                const std::string& help) {
  std::vector<std::string> names;
  for (const auto& [word, value] : words) names.push_back(word);
  command
      .add_option_function<std::string>(
          flag, [&field, words](const std::string& word) { field = words.at(word); }, help)
      ->check(CLI::IsMember(names))
      ->default_str(default_word);
}

/// --gallery, shared by the commands that write an evaluation's page (evaluate, report).
void add_gallery_option(CLI::App& command, std::size_t& gallery);

/// The distributed flags of ftl finetune, as LaunchNames: --rank, --world-size, ...
LaunchNames launch_flag_names();

CLI::App* setup_finetune(CLI::App& app, FinetuneOptions& options);
int run_finetune(const FinetuneOptions& options, spdlog::logger& log);

/// Throws ConfigError naming the flag when ftl lr-find's --start, --end, --steps or
/// --output-prefix is out of range.
void check_lr_find_arguments(const LrFindCliOptions& options);

CLI::App* setup_lr_find(CLI::App& app, LrFindCliOptions& options);
int run_lr_find(const LrFindCliOptions& options, spdlog::logger& log);

/// A missed quality gate as the log says it, naming the flag that set the limit:
/// "accuracy 0.8 < --min-accuracy 0.85".
std::string gate_failure_text(const GateFailure& failure);

CLI::App* setup_evaluate(CLI::App& app, EvaluateCliOptions& options);
int run_evaluate(const EvaluateCliOptions& options, spdlog::logger& log);

CLI::App* setup_predict(CLI::App& app, PredictCliOptions& options);
int run_predict(const PredictCliOptions& options, spdlog::logger& log);

/// Throws ConfigError, naming the flags, when ftl report's arguments do not go together:
/// --evaluation or --data with several runs, or several runs without --output.
void check_report_arguments(const ReportOptions& options);

CLI::App* setup_report(CLI::App& app, ReportOptions& options);
int run_report(const ReportOptions& options, spdlog::logger& log);

/// Registers `ftl data` and returns its `check` subcommand.
CLI::App* setup_data(CLI::App& app, DataCheckCliOptions& options);
int run_data_check(const DataCheckCliOptions& options, spdlog::logger& log);

CLI::App* setup_serve(CLI::App& app, ServeCliOptions& options);
int run_serve(const ServeCliOptions& options, spdlog::logger& log);

CLI::App* setup_export(CLI::App& app, ExportCliOptions& options);
int run_export(const ExportCliOptions& options, spdlog::logger& log);

CLI::App* setup_inspect(CLI::App& app, InspectOptions& options);
int run_inspect(const InspectOptions& options, spdlog::logger& log);

}  // namespace ftl::cli
