// `ftl data check PATH [--json] [--workers N]`: every image decoded once, bad files listed.
#include <iostream>

#include "commands.h"
#include "ftl/data/data_check.h"

namespace ftl::cli {

CLI::App* setup_data(CLI::App& app, DataCheckCliOptions& options) {
  CLI::App* data = app.add_subcommand("data", "Dataset tools");
  data->require_subcommand(1);
  CLI::App* check = data->add_subcommand(
      "check",
      "Decode every image of an ImageFolder or CSV manifest: counts per class, image sizes and "
      "every bad file with its reason");
  check->add_option("path", options.core.data, "ImageFolder root or CSV manifest")->required();
  check->add_flag("--json", options.json, "Print JSON instead of text");
  check->add_option("--workers", options.core.workers, "Decoding threads; 0 = number of cores")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{256}));
  check->footer(
      "Exit codes: 0 every image decodes, 1 bad images were found (or the dataset "
      "cannot be read), 2 usage error.");
  return check;
}

int run_data_check(const DataCheckCliOptions& options, spdlog::logger& log) {
  const DataCheck check = check_data(options.core);
  // A file name that is not UTF-8 prints its bad bytes as U+FFFD rather than failing the report.
  const auto json = [&] {
    return data_check_json(check).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::cout << (options.json ? json() + "\n" : data_check_text(check)) << std::flush;
  if (!check.bad.empty()) {
    log.error("{} of {} images in {} cannot be used", check.bad.size(), check.images,
              check.data.string());
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace ftl::cli
