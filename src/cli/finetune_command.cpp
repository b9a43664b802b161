// `ftl finetune --config FILE [--set key=value ...]`
#include <spdlog/fmt/fmt.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "commands.h"
#include "ftl/config.h"
#include "ftl/trainer.h"

namespace ftl::cli {
namespace {

constexpr int kBarWidth = 30;  // characters of the progress bar

std::string config_keys_help() {
  std::string text = "Config keys (JSON file or --set key=value):\n";
  for (const OptionDoc& doc : option_docs()) {
    text += fmt::format("  {:<24} {} [{}]\n", doc.key, doc.help,
                        doc.default_value.empty() ? "required" : doc.default_value);
  }
  return text + kExitCodeHelp;
}

// A one-line progress bar on stderr, redrawn in place; only used when stderr is a terminal.
void draw_progress(const BatchProgress& progress) {
  const auto filled = static_cast<int>(kBarWidth * progress.batch / progress.batches);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kBarWidth, '.');
  std::fprintf(stderr, "\repoch %lld/%lld [%s] %zu/%zu loss %.4f",
               static_cast<long long>(progress.epoch), static_cast<long long>(progress.epochs),
               bar.c_str(), progress.batch, progress.batches, progress.loss);
  std::fflush(stderr);
}

void clear_progress() {
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace

CLI::App* setup_finetune(CLI::App& app, FinetuneOptions& options) {
  CLI::App* command = app.add_subcommand(
      "finetune", "Fine-tune a ResNet-18 TorchScript file on an ImageFolder dataset");
  command->add_option("--config", options.config_path, "JSON config file")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--set", options.overrides,
                      "Override a config key, typed and checked like the file: "
                      "--set optimizer.lr=0.01 (repeatable)");
  command->footer(config_keys_help());
  return command;
}

int run_finetune(const FinetuneOptions& options, spdlog::logger& log) {
  Config config = load_config_file(options.config_path);
  for (const std::string& assignment : options.overrides) apply_override(config, assignment);

  FinetuneHooks hooks;
  if (::isatty(STDERR_FILENO) != 0) {
    hooks.on_batch = draw_progress;
    hooks.on_epoch_end = clear_progress;
  }
  const FinetuneResult result = finetune(config, log, hooks);
  const nlohmann::ordered_json summary = {{"run_dir", result.run_dir.string()},
                                          {"best_checkpoint", result.best_checkpoint.string()},
                                          {"best_epoch", result.best_epoch},
                                          {"best_val_acc", result.best_val_acc},
                                          {"epochs", result.epochs}};
  std::cout << summary.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace ftl::cli
