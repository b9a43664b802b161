// ftl: transfer learning for torchvision ResNet-18 TorchScript files.
// main sets up the subcommands, parses, and is the one place that turns errors into exit codes.
#include <c10/util/Exception.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.h"
#include "ftl/errors.h"
#include "ftl/runtime.h"
#include "ftl/version.h"

namespace {

std::shared_ptr<spdlog::logger> make_logger() {
  auto logger = std::make_shared<spdlog::logger>(
      "ftl", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  return logger;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ftl::cli;
  CLI::App app{
      "ftl: fine-tune a torchvision ResNet-18 TorchScript file on a folder of labelled "
      "images, evaluate the result, and inspect models and checkpoints.",
      "ftl"};
  app.footer(kExitCodeHelp);
  app.set_version_flag("--version", std::string("ftl ") + ftl::kVersion);
  app.require_subcommand(1);

  FinetuneOptions finetune_options;
  EvaluateCliOptions evaluate_options;
  InspectOptions inspect_options;
  CLI::App* finetune = setup_finetune(app, finetune_options);
  CLI::App* evaluate = setup_evaluate(app, evaluate_options);
  CLI::App* inspect = setup_inspect(app, inspect_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ftl: " << e.what() << " (see ftl --help)\n";
    return kExitUsage;
  }

  const auto log = make_logger();
  // Process-wide policy belongs to the process: the allocator setting speeds up every command.
  ftl::tune_allocator();
  try {
    if (finetune->parsed()) return run_finetune(finetune_options, *log);
    if (evaluate->parsed()) return run_evaluate(evaluate_options, *log);
    if (inspect->parsed()) return run_inspect(inspect_options, *log);
    return kExitUsage;
  } catch (const ftl::ConfigError& e) {
    log->error("{}", e.what());
    return kExitUsage;
  } catch (const ftl::Interrupted& e) {
    log->error("{}", e.what());
    log->info("resume with: ftl finetune --resume {}", e.run_dir());
    return kExitSignalBase + e.signal_number();
  } catch (const c10::Error& e) {
    log->error("LibTorch: {}", e.what_without_backtrace());
    return kExitRuntime;
  } catch (const std::exception& e) {
    log->error("{}", e.what());
    return kExitRuntime;
  } catch (...) {
    log->error("unknown error");
    return kExitRuntime;
  }
}
