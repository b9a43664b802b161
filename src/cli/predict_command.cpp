// `ftl predict --checkpoint FILE [--top-k K] [--format jsonl|csv] [--batch-size N] PATH...`
// PATHs are image files, folders (searched recursively) or "-" for a list of paths on stdin.
#include <iostream>
#include <string>

#include "commands.h"
#include "ftl/eval/predict.h"

namespace ftl::cli {
namespace {

/// The PATH that means "read the list of paths from standard input, one per line".
constexpr const char* kStdinPath = "-";

// Paths from the command line, with "-" replaced by the lines of stdin (blank lines skipped,
// a Windows line end dropped).
std::vector<std::filesystem::path> input_paths(const std::vector<std::string>& arguments) {
  std::vector<std::filesystem::path> paths;
  for (const std::string& argument : arguments) {
    if (argument != kStdinPath) {
      paths.emplace_back(argument);
      continue;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) paths.emplace_back(line);
    }
  }
  return paths;
}

}  // namespace

CLI::App* setup_predict(CLI::App& app, PredictCliOptions& options) {
  PredictOptions& core = options.core;
  CLI::App* command = app.add_subcommand(
      "predict", "Classify images with a checkpoint: one JSON line (or CSV row) per image");
  command->add_option("--checkpoint", core.checkpoint, "Checkpoint written by ftl finetune")
      ->required();
  command
      ->add_option("paths", options.paths,
                   "Image files, folders (searched recursively) or - (paths on stdin)")
      ->required();
  command->add_option("--top-k", core.top_k, "Most probable classes per image")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}));
  command->add_option("--format", options.format, "jsonl, or csv (with a header row)")
      ->capture_default_str()
      ->check(CLI::IsMember({"jsonl", "csv"}));
  add_inference_options(*command, core.inference);
  command->footer(
      "An image that cannot be read gets a record with \"error\" and the others go on; the exit "
      "code is then 1. Exit codes: 0 every image classified, 1 an image or the checkpoint "
      "failed, 2 usage error.");
  return command;
}

int run_predict(const PredictCliOptions& options, spdlog::logger& log) {
  Predictor predictor(options.core, log);
  const std::vector<std::filesystem::path> images = expand_inputs(input_paths(options.paths));
  const bool csv = options.format == "csv";
  if (csv) std::cout << prediction_csv_header(predictor.top_k());
  const PredictSummary summary = predictor.run(images, [&](const ImagePrediction& prediction) {
    if (csv) {
      std::cout << prediction_csv_row(prediction, predictor.top_k());
    } else {
      // A file name that is not UTF-8 must not stop the batch: such bytes print as U+FFFD.
      std::cout << prediction_json(prediction)
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << '\n';
    }
  });
  std::cout << std::flush;
  if (summary.failed > 0) {
    log.error("{} of {} images could not be classified", summary.failed, summary.images);
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace ftl::cli
