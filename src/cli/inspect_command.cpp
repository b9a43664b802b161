// `ftl inspect FILE [--json]`
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
  command->footer(kExitCodeHelp);
  return command;
}

int run_inspect(const InspectOptions& options, spdlog::logger& /*log*/) {
  const nlohmann::ordered_json description = inspect_file(options.file);
  std::cout << (options.json ? description.dump(2) + "\n" : inspect_text(description))
            << std::flush;
  return kExitOk;
}

}  // namespace ftl::cli
