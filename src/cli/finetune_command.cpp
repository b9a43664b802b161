// `ftl finetune --config FILE [--set key=value ...] [--resume RUN_DIR|auto] [--overwrite]`
#include <spdlog/fmt/fmt.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "commands.h"
#include "ftl/config/config.h"
#include "ftl/train/trainer.h"
#include "ftl/util/errors.h"
#include "stop_signals.h"

namespace ftl::cli {
namespace {

constexpr int kBarWidth = 30;  // characters of the progress bar

std::string config_keys_help() {
  std::string text = "Config keys (JSON file or --set key=value):\n";
  std::size_t width = 0;
  for (const OptionDoc& doc : option_docs()) width = std::max(width, doc.key.size());
  for (const OptionDoc& doc : option_docs()) {
    text += fmt::format("  {:<{}} {} [{}]\n", doc.key, width, doc.help,
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

// Whether two paths name the same folder, whether or not they exist yet.
bool same_folder(const std::filesystem::path& a, const std::filesystem::path& b) {
  return std::filesystem::weakly_canonical(a) == std::filesystem::weakly_canonical(b);
}

Config read_config(const std::string& path, const FinetuneOptions& options) {
  Config config = load_config_file(path);
  for (const std::string& assignment : options.overrides) apply_override(config, assignment);
  return config;
}

// Turns --config/--resume/--overwrite into the config and what to do with an existing run.
std::pair<Config, RunMode> resolve_run(const FinetuneOptions& options, spdlog::logger& log) {
  if (options.resume.empty()) {
    if (options.config_path.empty()) {
      throw ConfigError("--config is required (or --resume RUN_DIR to continue a run)");
    }
    return {read_config(options.config_path, options),
            options.overwrite ? RunMode::kOverwrite : RunMode::kNew};
  }
  if (options.resume == "auto") {
    if (options.config_path.empty()) {
      throw ConfigError("--resume auto needs --config: it resumes the config's output.dir");
    }
    Config config = read_config(options.config_path, options);
    if (holds_run(config.output.dir)) return {config, RunMode::kResume};
    log.info("--resume auto: {} holds no run; starting a new one", config.output.dir);
    return {config, RunMode::kNew};
  }
  const std::filesystem::path dir = options.resume;
  if (options.config_path.empty()) {
    const std::filesystem::path path = dir / "config.json";
    if (!std::filesystem::exists(path)) {
      throw ConfigError("--resume " + dir.string() +
                        ": no config.json there; is it an ftl run folder?");
    }
    Config config = read_config(path.string(), options);
    config.output.dir = dir.string();  // the folder is the run, wherever it was moved
    return {config, RunMode::kResume};
  }
  Config config = read_config(options.config_path, options);
  if (!same_folder(config.output.dir, dir)) {
    throw ConfigError("--resume " + dir.string() + " but output.dir is " + config.output.dir +
                      "; they must name the same run folder");
  }
  return {config, RunMode::kResume};
}

// Ranks other than 0 of a distributed run mark their lines, which interleave with rank 0's.
void prefix_rank(spdlog::logger& log, int rank) {
  const std::string mark = fmt::format("[rank {}] ", rank);
  for (const spdlog::sink_ptr& sink : log.sinks()) {
    const bool file = dynamic_cast<spdlog::sinks::basic_file_sink_mt*>(sink.get()) != nullptr;
    sink->set_pattern(file ? "[%Y-%m-%d %H:%M:%S.%e] " + mark + "%l %v"
                           : "[%H:%M:%S] " + mark + "%^%l%$ %v");
  }
}

// An optional flag: CLI11 fills `value`, and a value given replaces `target`'s nothing.
CLI::Option* add_optional_int(CLI::App& command, const std::string& name,
                              std::optional<int>& target, const std::string& help) {
  return command
      .add_option_function<int>(
          name, [&target](const int& value) { target = value; }, help)
      ->check(CLI::NonNegativeNumber)
      ->group("Distributed (else from torchrun's or SLURM's environment)");
}

}  // namespace

LaunchNames launch_flag_names() {
  LaunchNames names;
  names.rank = "--rank";
  names.world_size = "--world-size";
  names.local_rank = "--local-rank";
  names.master_port = "--master-port";
  names.master_addr = "--master-addr";
  return names;
}

CLI::App* setup_finetune(CLI::App& app, FinetuneOptions& options) {
  CLI::App* command = app.add_subcommand(
      "finetune",
      "Fine-tune a torchvision classifier's TorchScript file on a labelled image dataset");
  command->add_option("--config", options.config_path, "JSON config file")
      ->check(CLI::ExistingFile);
  command->add_option("--set", options.overrides,
                      "Override a config key, typed and checked like the file: "
                      "--set optimizer.lr=0.01 (repeatable)");
  CLI::Option* resume = command->add_option(
      "--resume", options.resume,
      "Continue the run in RUN_DIR from checkpoints/last.pt (its config.json unless --config is "
      "given; only train.epochs may change), or \"auto\": resume the config's output.dir if it "
      "holds a run, else start it");
  command
      ->add_flag("--overwrite", options.overwrite,
                 "Replace the run already in output.dir (refused without this flag)")
      ->excludes(resume);
  // The flags are registered under the names that resolve_launch's messages quote.
  options.launch.names = launch_flag_names();
  const LaunchNames& names = options.launch.names;
  add_optional_int(*command, names.rank, options.launch.rank,
                   "This process's rank, 0 to world size - 1 (RANK, SLURM_PROCID)");
  add_optional_int(*command, names.world_size, options.launch.world_size,
                   "Processes in the data-parallel run (WORLD_SIZE, SLURM_NTASKS)");
  add_optional_int(*command, names.local_rank, options.launch.local_rank,
                   "Rank among this machine's processes: picks cuda:N (LOCAL_RANK, "
                   "SLURM_LOCALID)");
  add_optional_int(*command, names.master_port, options.launch.master_port,
                   "Port of rank 0's rendezvous store (MASTER_PORT; default 29500)");
  command
      ->add_option(names.master_addr, options.launch.master_addr,
                   "Host of rank 0 (MASTER_ADDR; 127.0.0.1 when only --world-size is given)")
      ->group("Distributed (else from torchrun's or SLURM's environment)");
  command->footer(config_keys_help());
  return command;
}

int run_finetune(const FinetuneOptions& options, spdlog::logger& log) {
  const Launch launch = resolve_launch(options.launch, process_environment());
  if (launch.rank != 0) prefix_rank(log, launch.rank);
  const auto [config, mode] = resolve_run(options, log);

  const StopSignals signals;
  FinetuneHooks hooks;
  hooks.stop_requested = [&signals] { return signals.received(); };
  if (::isatty(STDERR_FILENO) != 0 && log.should_log(spdlog::level::info) && launch.rank == 0) {
    hooks.on_batch = draw_progress;
    hooks.on_epoch_end = clear_progress;
  }
  const FinetuneResult result = finetune(config, log, hooks, mode, launch);
  if (launch.rank != 0) return kExitOk;  // rank 0 reports the run
  const nlohmann::ordered_json summary = {{"run_dir", result.run_dir.string()},
                                          {"best_checkpoint", result.best_checkpoint.string()},
                                          {"best_epoch", result.best_epoch},
                                          {"best_metric", result.best_metric},
                                          {"best_value", result.best_value},
                                          {"best_val_acc", result.best_val_acc},
                                          {"epochs", result.epochs},
                                          {"stop_reason", result.stop_reason},
                                          {"resumed", result.resumed}};
  std::cout << summary.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace ftl::cli
