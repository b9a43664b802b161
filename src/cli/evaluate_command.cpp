// `ftl evaluate --checkpoint FILE --data DIR [--output FILE] [--min-accuracy X] ...`
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "ftl/evaluate.h"
#include "ftl/files.h"

namespace ftl::cli {

CLI::App* setup_evaluate(CLI::App& app, EvaluateCliOptions& options) {
  EvaluateOptions& core = options.core;
  CLI::App* command = app.add_subcommand(
      "evaluate", "Evaluate a checkpoint on an ImageFolder dataset; metrics as JSON on stdout");
  command->add_option("--checkpoint", core.checkpoint, "Checkpoint written by ftl finetune")
      ->required();
  command->add_option("--data", core.data, "ImageFolder root (class folders matched by name)")
      ->required();
  command->add_option("--output", options.output, "Also write the JSON report to this file")
      ->default_str("none: stdout only");
  command->add_option("--batch-size", core.batch_size, "Images per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{65536}));
  command->add_option("--workers", core.workers, "Decoding threads; 0 = number of cores")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{256}));
  command->add_option("--threads", core.threads, "Compute threads; 0 = available cores")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1024}));
  command->add_option("--device", core.device, "cpu, cuda or cuda:N")->capture_default_str();
  command
      ->add_option("--min-accuracy", options.min_accuracy,
                   "Quality gate: exit 3 when accuracy is below this value")
      ->default_str("none: no gate")
      ->check(CLI::Range(0.0, 1.0));
  command->footer(kExitCodeHelp);
  return command;
}

int run_evaluate(const EvaluateCliOptions& options, spdlog::logger& log) {
  const nlohmann::ordered_json report = evaluate_checkpoint(options.core, log);
  const std::string text = report.dump(2) + "\n";
  if (!options.output.empty()) write_file_atomic(options.output, text);
  std::cout << text << std::flush;

  const double accuracy = report.at("accuracy").get<double>();
  if (options.min_accuracy >= 0 && accuracy < options.min_accuracy) {
    std::ostringstream reason;
    reason << std::setprecision(4) << "quality gate failed: accuracy " << accuracy
           << " < --min-accuracy " << options.min_accuracy;
    log.error("{}", reason.str());
    return kExitQualityGate;
  }
  return kExitOk;
}

}  // namespace ftl::cli
