// `ftl evaluate --checkpoint FILE --data DIR [--format json|text] [--output FILE]
//  [--confusion-csv FILE] [--errors-csv FILE] [--report FILE [--gallery N]] [--min-accuracy X]
//  [--min-class-recall X]
//  [--max-loss X] ...`
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "ftl/eval/evaluate.h"
#include "ftl/eval/evaluation_output.h"
#include "ftl/report/report.h"
#include "ftl/util/files.h"

namespace ftl::cli {
namespace {

/// Significant digits of a value or limit in a quality gate's message.
constexpr int kGateDigits = 4;

std::string gate_number(double value) {
  std::ostringstream text;
  text << std::setprecision(kGateDigits) << value;
  return text.str();
}

}  // namespace

std::string gate_failure_text(const GateFailure& failure) {
  const std::string value = gate_number(failure.value);
  const std::string limit = gate_number(failure.limit);
  switch (failure.gate) {
    case Gate::kMinAccuracy:
      return "accuracy " + value + " < --min-accuracy " + limit;
    case Gate::kMinClassRecall:
      return "recall of class " + failure.class_name + " " + value + " < --min-class-recall " +
             limit;
    case Gate::kMaxLoss:
      return "loss " + value + " > --max-loss " + limit;
  }
  return value + " misses " + limit;  // not reached: every gate is worded above (-Wswitch)
}

CLI::App* setup_evaluate(CLI::App& app, EvaluateCliOptions& options) {
  EvaluateOptions& core = options.core;
  CLI::App* command = app.add_subcommand(
      "evaluate", "Evaluate a checkpoint on a labelled dataset; metrics as JSON on stdout");
  command->add_option("--checkpoint", core.checkpoint, "Checkpoint written by ftl finetune")
      ->required();
  command
      ->add_option("--data", core.data,
                   "ImageFolder root or CSV manifest (classes matched by name)")
      ->required();
  command->add_option("--format", options.format, "What stdout gets: json, or text (a table)")
      ->capture_default_str()
      ->check(CLI::IsMember({"json", "text"}));
  command->add_option("--output", options.output, "Also write the JSON report to this file")
      ->default_str("none: stdout only");
  command->add_option("--confusion-csv", options.confusion_csv,
                      "Write the confusion matrix as CSV (rows: true class)");
  command->add_option("--errors-csv", options.errors_csv,
                      "Write every misclassified image as CSV: path, true and predicted class, "
                      "confidence");
  command->add_option("--report", options.report,
                      "Write the evaluation as a self-contained HTML page (reliability diagram, "
                      "heat map, tables, pictures of the mistakes)");
  add_gallery_option(*command, core.gallery);  // with --report: the pictures of the page
  command->add_option("--top-k", core.top_k, "Report top{K}_accuracy (with K or more classes)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}));
  command->add_flag("--skip-bad-images", core.skip_bad_images,
                    "Leave undecodable images out (listed under \"skipped\" in the report) "
                    "instead of failing");
  add_inference_options(*command, core.inference);
  command
      ->add_option("--min-accuracy", options.gates.min_accuracy,
                   "Quality gate: exit 3 when accuracy is below this value")
      ->default_str("none: no gate")
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--min-class-recall", options.gates.min_class_recall,
                   "Quality gate: exit 3 when any class's recall is below this value")
      ->default_str("none: no gate")
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--max-loss", options.gates.max_loss,
                   "Quality gate: exit 3 when the mean loss is above this value")
      ->default_str("none: no gate")
      ->check(CLI::NonNegativeNumber);
  command->footer(kExitCodeHelp);
  return command;
}

int run_evaluate(const EvaluateCliOptions& options, spdlog::logger& log) {
  EvaluateOptions core = options.core;
  if (options.report.empty()) core.gallery = 0;  // only the page shows pictures
  const Evaluation evaluation = evaluate_checkpoint(core, log);
  const std::string json = evaluation.report.dump(2) + "\n";
  if (!options.output.empty()) write_file_atomic(options.output, json);
  if (!options.confusion_csv.empty()) {
    write_file_atomic(options.confusion_csv, confusion_csv(evaluation));
  }
  if (!options.errors_csv.empty()) write_file_atomic(options.errors_csv, errors_csv(evaluation));
  if (!options.report.empty()) {
    write_file_atomic(options.report,
                      evaluation_report_html(evaluation.report, evaluation.gallery));
  }
  std::cout << (options.format == "text" ? evaluation_text(evaluation.report) : json) << std::flush;

  const std::vector<GateFailure> failed = failed_gates(evaluation.report, options.gates);
  for (const GateFailure& failure : failed) {
    log.error("quality gate failed: {}", gate_failure_text(failure));
  }
  return failed.empty() ? kExitOk : kExitQualityGate;
}

}  // namespace ftl::cli
