// `ftl inspect FILE [--json] [--groups [--layer-decay D]]`
#include <iostream>

#include "commands.h"
#include "ftl/eval/inspect.h"

namespace ftl::cli {

CLI::App* setup_inspect(CLI::App& app, InspectOptions& options) {
  CLI::App* command = app.add_subcommand(
      "inspect",
      "Describe a TorchScript model or an ftl checkpoint: head, parameters, classes, metadata");
  command->add_option("file", options.file, "Model or checkpoint file")->required();
  command->add_flag("--json", options.json, "Print the description as JSON");
  CLI::Option* groups =
      command->add_flag("--groups", options.groups,
                        "Also list the depths that optimizer.layer_decay scales the lr by: each "
                        "depth's scale, tensors and parameters");
  command
      ->add_option("--layer-decay", options.layer_decay,
                   "The decay --groups shows (default: the checkpoint's optimizer.layer_decay, "
                   "else 0.75)")
      ->check(CLI::PositiveNumber & CLI::Range(0.0, 1.0))
      ->needs(groups);
  command->footer(kExitCodeHelp);
  return command;
}

int run_inspect(const InspectOptions& options, spdlog::logger& /*log*/) {
  const nlohmann::ordered_json description = inspect_file(
      options.file, options.groups,
      options.layer_decay > 0.0 ? std::optional<double>(options.layer_decay) : std::nullopt);
  std::cout << (options.json ? description.dump(2) + "\n" : inspect_text(description))
            << std::flush;
  return kExitOk;
}

}  // namespace ftl::cli
