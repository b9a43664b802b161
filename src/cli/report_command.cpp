// `ftl report RUN_DIR [--output FILE] [--svg FILE] [--evaluation FILE | --data DIR] ...`
// `ftl report RUN_DIR RUN_DIR... --output FILE [--svg FILE]` compares runs.
#include "commands.h"
#include "ftl/report/report.h"

namespace ftl::cli {

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
  add_inference_options(*command, options.batch_size, options.workers, options.threads,
                        options.device);
  command->footer(kExitCodeHelp);
  return command;
}

int run_report(const ReportOptions& options, spdlog::logger& log) {
  write_report(options, log);
  return kExitOk;
}

}  // namespace ftl::cli
