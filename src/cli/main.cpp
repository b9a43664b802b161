// ftl: transfer learning for torchvision classifiers' TorchScript files.
// main sets up the subcommands, parses, and is the one place that turns errors into exit codes.
#include <c10/util/Exception.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "error_text.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"
#include "ftl/version.h"

namespace {

struct LogOptions {
  bool verbose = false;  // -v: debug messages too
  bool quiet = false;    // -q: warnings and errors only
  std::string file;      // --log-file: also append every message here
};

// Logs go to stderr (stdout is for results), coloured only on a terminal and never when
// NO_COLOR is set (https://no-color.org), and to --log-file with dates and no colour.
std::shared_ptr<spdlog::logger> make_logger(const LogOptions& options) {
  const char* no_color = std::getenv("NO_COLOR");
  const bool colour = no_color == nullptr || no_color[0] == '\0';
  auto terminal = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(
      colour ? spdlog::color_mode::automatic : spdlog::color_mode::never);
  terminal->set_pattern("[%H:%M:%S] %^%l%$ %v");
  std::vector<spdlog::sink_ptr> sinks = {terminal};
  if (!options.file.empty()) {
    try {
      auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file);
      file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] %l %v");
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& error) {
      throw ftl::ConfigError("--log-file " + options.file + ": " + error.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("ftl", sinks.begin(), sinks.end());
  logger->set_level(options.verbose ? spdlog::level::debug
                    : options.quiet ? spdlog::level::warn
                                    : spdlog::level::info);
  logger->flush_on(spdlog::level::debug);  // a crash or a kill must not lose the last lines
  return logger;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ftl::cli;
  CLI::App app{
      "ftl: fine-tune a torchvision classifier's TorchScript file on a folder of labelled "
      "images, find a learning rate for it, evaluate the result, classify new images, serve "
      "them over HTTP, export it as TorchScript or ONNX, report on runs, check datasets, and "
      "inspect models and checkpoints.",
      "ftl"};
  app.footer(kExitCodeHelp);
  app.set_version_flag("--version", std::string("ftl ") + ftl::kVersion);
  app.require_subcommand(1);
  LogOptions log_options;
  CLI::Option* verbose = app.add_flag("-v,--verbose", log_options.verbose, "Log debug messages");
  app.add_flag("-q,--quiet", log_options.quiet, "Log warnings and errors only; no progress bar")
      ->excludes(verbose);
  app.add_option("--log-file", log_options.file, "Also append the log to this file");

  FinetuneOptions finetune_options;
  LrFindCliOptions lr_find_options;
  EvaluateCliOptions evaluate_options;
  PredictCliOptions predict_options;
  ftl::ReportOptions report_options;
  DataCheckCliOptions data_check_options;
  InspectOptions inspect_options;
  ServeCliOptions serve_options;
  ExportCliOptions export_options;
  CLI::App* finetune = setup_finetune(app, finetune_options);
  CLI::App* lr_find = setup_lr_find(app, lr_find_options);
  CLI::App* evaluate = setup_evaluate(app, evaluate_options);
  CLI::App* predict = setup_predict(app, predict_options);
  CLI::App* report = setup_report(app, report_options);
  CLI::App* data_check = setup_data(app, data_check_options);
  CLI::App* inspect = setup_inspect(app, inspect_options);
  CLI::App* serve = setup_serve(app, serve_options);
  CLI::App* export_command = setup_export(app, export_options);

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

  std::shared_ptr<spdlog::logger> log;
  try {
    log = make_logger(log_options);
  } catch (const ftl::ConfigError& e) {
    std::cerr << "ftl: " << error_text(e) << "\n";
    return kExitUsage;
  }
  log->debug("ftl {}, {} cores available, BLAS {}", ftl::kVersion, ftl::available_cores(),
             ftl::loaded_blas());
  // Process-wide policy belongs to the process: the allocator setting speeds up every command.
  ftl::tune_allocator();
  ftl::limit_interop_threads();
  // Past a file size limit (ulimit -f) a write would kill the process with SIGXFSZ, leaving a
  // half-written temporary file; ignored, the write fails with EFBIG and is reported instead.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    if (finetune->parsed()) return run_finetune(finetune_options, *log);
    if (lr_find->parsed()) return run_lr_find(lr_find_options, *log);
    if (evaluate->parsed()) return run_evaluate(evaluate_options, *log);
    if (predict->parsed()) return run_predict(predict_options, *log);
    if (report->parsed()) return run_report(report_options, *log);
    if (data_check->parsed()) return run_data_check(data_check_options, *log);
    if (inspect->parsed()) return run_inspect(inspect_options, *log);
    if (serve->parsed()) return run_serve(serve_options, *log);
    if (export_command->parsed()) return run_export(export_options, *log);
    return kExitUsage;
  } catch (const ftl::ConfigError& e) {
    log->error("{}", error_text(e));
    return kExitUsage;
  } catch (const ftl::Interrupted& e) {
    log->error("{}", error_text(e));
    log->info("resume with: ftl finetune --resume {}", e.run_dir());
    return kExitSignalBase + e.signal_number();
  } catch (const ftl::Error& e) {
    log->error("{}", error_text(e));
    return kExitRuntime;
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
