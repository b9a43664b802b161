// `ftl lr-find --config FILE [--set key=value ...] [--start LR] [--end LR] [--steps N]
// [--output-prefix PREFIX]`: the learning-rate range test (train/lr_find.h) on a finetune
// config, its curve written as PREFIX.csv and PREFIX.svg, its suggestions printed as JSON.
#include <spdlog/fmt/fmt.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "commands.h"
#include "ftl/config/config.h"
#include "ftl/report/svg_chart.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"

namespace fs = std::filesystem;

namespace ftl::cli {
namespace {

// The plot's colours: the raw loss pale beside the smoothed one, the suggestions distinct.
constexpr const char* kRawLossColour = "#aec7e8";
constexpr const char* kSmoothedLossColour = "#1f77b4";
constexpr const char* kSteepColour = "#d62728";
constexpr const char* kValleyColour = "#2ca02c";
// The plot leaves out losses above this many times the first step's, which the loss reaches only
// as it diverges: one exploding step would otherwise flatten the whole curve (the CSV has them).
constexpr double kPlotLossCeiling = 2.0;

// The folder that PREFIX.csv and PREFIX.svg go in ("." for a bare name).
fs::path prefix_folder(const std::string& prefix) {
  const fs::path folder = fs::path(prefix).parent_path();
  return folder.empty() ? fs::path(".") : folder;
}

// Fails before the test trains, not after: the output folder must exist and be writable.
void check_output_folder(const std::string& prefix) {
  const fs::path folder = prefix_folder(prefix);
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    throw IoError(fmt::format("{}: no such folder (--output-prefix {})", folder.string(), prefix));
  }
  if (::access(folder.c_str(), W_OK) != 0) {
    throw IoError(fmt::format("{}: cannot write there (--output-prefix {}): {}", folder.string(),
                              prefix, std::strerror(errno)));
  }
}

// Loss against log10 lr, raw and smoothed, with each suggestion as a vertical line. The chart
// helper's series share one x axis, so each line gets two x positions of its own (the
// suggestion's x twice) where only it has values: the curve's lowest and highest loss.
std::string lr_find_svg(const LrFindResult& result) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double ceiling = std::numeric_limits<double>::infinity();
  for (const LrFindPoint& point : result.curve) {
    if (std::isfinite(point.smoothed_loss)) {
      ceiling = kPlotLossCeiling * point.smoothed_loss;
      break;
    }
  }
  const auto shown = [&](double loss) {
    return std::isfinite(loss) && loss <= ceiling ? loss : nan;
  };
  std::vector<double> x;
  std::vector<double> raw;
  std::vector<double> smoothed;
  double lowest = std::numeric_limits<double>::infinity();
  double highest = -lowest;
  for (const LrFindPoint& point : result.curve) {
    x.push_back(std::log10(point.lr));
    raw.push_back(shown(point.loss));
    smoothed.push_back(shown(point.smoothed_loss));
    for (const double value : {raw.back(), smoothed.back()}) {
      if (!std::isfinite(value)) continue;
      lowest = std::min(lowest, value);
      highest = std::max(highest, value);
    }
  }
  std::vector<Series> series = {{"loss", raw, kRawLossColour},
                                {"smoothed loss", smoothed, kSmoothedLossColour}};
  struct Mark {
    const char* name;
    const std::optional<LrSuggestion>& suggestion;
    const char* colour;
  };
  for (const Mark& mark : {Mark{"steep", result.suggestions.steep, kSteepColour},
                           Mark{"valley", result.suggestions.valley, kValleyColour}}) {
    if (!mark.suggestion) {
      series.push_back({fmt::format("{}: none", mark.name), {}, mark.colour});
      continue;
    }
    Series line{fmt::format("{} {:.3g}", mark.name, mark.suggestion->lr),
                std::vector<double>(x.size(), nan), mark.colour};
    line.values.push_back(lowest);
    line.values.push_back(highest);
    x.push_back(std::log10(mark.suggestion->lr));
    x.push_back(x.back());
    series.push_back(line);
  }
  for (Series& line : series) line.values.resize(x.size(), nan);
  return standalone_svg({line_chart_svg("lr range test", "log10(lr)", x, series)});
}

nlohmann::json suggestion_value(const std::optional<LrSuggestion>& suggestion, bool lr) {
  if (!suggestion) return nullptr;
  return lr ? suggestion->lr : suggestion->loss;
}

Config read_lr_find_config(const LrFindCliOptions& options) {
  Config config = load_config_file(options.config_path);
  for (const std::string& assignment : options.overrides) apply_override(config, assignment);
  return config;
}

}  // namespace

void check_lr_find_arguments(const LrFindCliOptions& options) {
  const LrFindOptions& core = options.core;
  for (const auto& [flag, value] : {std::pair<const char*, double>{"--start", core.start_lr},
                                    std::pair<const char*, double>{"--end", core.end_lr}}) {
    if (!(value > 0) || !std::isfinite(value)) {
      throw ConfigError(fmt::format("{} must be a finite number > 0, got {:g}", flag, value));
    }
  }
  if (core.start_lr >= core.end_lr) {
    throw ConfigError(
        fmt::format("--start {:g} must be below --end {:g}: the lr grows from one to "
                    "the other",
                    core.start_lr, core.end_lr));
  }
  if (core.steps < kLrFindMinSteps) {
    throw ConfigError(
        fmt::format("--steps must be >= {} (the suggestions skip the first steps/{} "
                    "and the last {} points), got {}",
                    kLrFindMinSteps, kLrFindSkipStartDivisor, kLrFindSkipEndPoints, core.steps));
  }
  if (options.output_prefix.empty() || !fs::path(options.output_prefix).has_filename()) {
    throw ConfigError(
        fmt::format("--output-prefix must end in a file name (PREFIX.csv, PREFIX.svg), got \"{}\"",
                    options.output_prefix));
  }
}

CLI::App* setup_lr_find(CLI::App& app, LrFindCliOptions& options) {
  CLI::App* command = app.add_subcommand(
      "lr-find",
      "Learning-rate range test on a finetune config: train with an exponentially growing lr "
      "until the loss diverges, and suggest lrs (fastai's steep and valley); no run folder is "
      "written");
  command->add_option("--config", options.config_path, "JSON config file, as ftl finetune's")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--set", options.overrides,
                      "Override a config key, as ftl finetune does: --set data.batch_size=32 "
                      "(repeatable)");
  command->add_option("--start", options.core.start_lr, "The first step's lr (the head's)")
      ->capture_default_str();
  command->add_option("--end", options.core.end_lr, "The last step's lr")->capture_default_str();
  command
      ->add_option("--steps", options.core.steps,
                   fmt::format("Optimizer steps at most (>= {}); fewer when the loss diverges",
                               kLrFindMinSteps))
      ->capture_default_str();
  command
      ->add_option("--output-prefix", options.output_prefix,
                   "Write the curve to PREFIX.csv and its plot to PREFIX.svg")
      ->capture_default_str();
  command->footer(std::string("Config keys: as ftl finetune --help lists them; output.dir may be "
                              "absent and is never touched.\n") +
                  kExitCodeHelp);
  return command;
}

int run_lr_find(const LrFindCliOptions& options, spdlog::logger& log) {
  check_lr_find_arguments(options);
  const Config config = read_lr_find_config(options);
  validate_lr_find_config(config);
  check_output_folder(options.output_prefix);
  const LrFindResult result = lr_find(config, options.core, log);

  const std::string csv_path = options.output_prefix + ".csv";
  const std::string svg_path = options.output_prefix + ".svg";
  write_file_atomic(csv_path, lr_find_csv(result));
  write_file_atomic(svg_path, lr_find_svg(result));
  const LrSuggestions& suggestions = result.suggestions;
  const nlohmann::ordered_json summary = {
      {"steep", suggestion_value(suggestions.steep, /*lr=*/true)},
      {"steep_loss", suggestion_value(suggestions.steep, /*lr=*/false)},
      {"valley", suggestion_value(suggestions.valley, /*lr=*/true)},
      {"valley_loss", suggestion_value(suggestions.valley, /*lr=*/false)},
      {"steps", result.curve.size()},
      {"steps_requested", options.core.steps},
      {"start_lr", options.core.start_lr},
      {"end_lr", options.core.end_lr},
      {"last_lr", result.curve.empty() ? nlohmann::json() : nlohmann::json(result.curve.back().lr)},
      {"stopped_early", result.stop != LrFindStop::kCompleted},
      {"stop_reason", to_string(result.stop)},
      {"stop_message", result.stop_message},
      {"csv", csv_path},
      {"svg", svg_path}};
  std::cout << summary.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace ftl::cli
