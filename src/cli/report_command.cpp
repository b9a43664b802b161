// `ftl report RUN_DIR [--output FILE] [--svg FILE] [--evaluation FILE | --data DIR]
//  [--gallery N] ...`
// `ftl report RUN_DIR RUN_DIR... --output FILE [--svg FILE]` compares runs.
#include "commands.h"
#include "ftl/report/report.h"
#include "ftl/util/errors.h"

namespace ftl::cli {

void check_report_arguments(const ReportOptions& options) {
  const std::size_t runs = options.run_dirs.size();
  if (runs < 2) return;
  if (!options.evaluation.empty() || !options.data.empty()) {
    throw ConfigError("report: --evaluation and --data apply to a single run folder, not to " +
                      std::to_string(runs));
  }
  if (options.output.empty()) {
    throw ConfigError("report: give --output FILE to compare " + std::to_string(runs) +
                      " runs (the page belongs to no single run folder)");
  }
}

void add_gallery_option(CLI::App& command, std::size_t& gallery) {
  command
      .add_option("--gallery", gallery,
                  "Picture the N misclassified images of highest loss, and examples of the "
                  "worst confusions; 0 = no pictures")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, kMaxGallery));
}

CLI::App* setup_report(CLI::App& app, ReportOptions& options) {
  CLI::App* command = app.add_subcommand(
      "report",
      "Write a run's report as one self-contained HTML file: learning curves, the evaluation "
      "of its best checkpoint (confusion heat map, per-class table), its data and config; "
      "or, given several runs, their learning curves compared");
  command
      ->add_option("run_dirs", options.run_dirs,
                   "The run folder (output.dir of ftl finetune), or several to compare")
      ->required();
  command->add_option("--output", options.output, "The HTML file to write")
      ->default_str("RUN_DIR/report.html; required with several runs");
  command->add_option("--svg", options.svg,
                      "Also write the learning curves as one standalone SVG file");
  CLI::Option* evaluation =
      command->add_option("--evaluation", options.evaluation,
                          "Show this ftl evaluate --output report instead of evaluating best.pt");
  command
      ->add_option(
          "--data", options.data,
          "Evaluate best.pt on this ImageFolder or CSV manifest instead of the run's data.val")
      ->excludes(evaluation);
  add_gallery_option(*command, options.gallery);
  add_inference_options(*command, options.inference);
  command->footer(kExitCodeHelp);
  return command;
}

int run_report(const ReportOptions& options, spdlog::logger& log) {
  // The runs first: a folder that holds no run is reported before arguments that do not fit.
  const std::vector<RunRecord> runs = read_runs(options.run_dirs);
  check_report_arguments(options);
  write_report(options, runs, log);
  return kExitOk;
}

}  // namespace ftl::cli
