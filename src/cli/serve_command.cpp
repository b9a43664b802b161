// `ftl serve --checkpoint FILE [--host H] [--port P] ...`: the checkpoint behind HTTP until
// SIGTERM or SIGINT, reloaded on SIGHUP. The flags fill ServeOptions; the core does the rest.
#include <map>
#include <string>
#include <vector>

#include "commands.h"
#include "ftl/serve/server.h"
#include "json_log_format.h"
#include "reload_signal.h"
#include "stop_signals.h"

namespace ftl::cli {
namespace {

// The flag's check, from the range validate_serve_options holds the option to.
template <typename T>
CLI::Range range_of(OptionRange<T> range) {
  return CLI::Range(range.low, range.high);
}

}  // namespace

CLI::App* setup_serve(CLI::App& app, ServeCliOptions& options) {
  ServeOptions& core = options.core;
  CLI::App* command = app.add_subcommand(
      "serve", "Serve a checkpoint over HTTP: POST /v1/predict, GET /v1/model, /metrics, ...");
  command->add_option("--checkpoint", core.checkpoint, "Checkpoint written by ftl finetune")
      ->required();
  command->add_option("--host", core.host, "Address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  command->add_option("--port", core.port, "TCP port; 0 = any free one (logged)")
      ->capture_default_str()
      ->check(range_of(ServeRanges::kPort));
  command
      ->add_option("--http-threads", core.http_threads,
                   "Connections served at once (each holds a thread)")
      ->capture_default_str()
      ->check(range_of(ServeRanges::kHttpThreads));
  command->add_option("--max-batch", core.max_batch, "Images per forward pass at most")
      ->capture_default_str()
      ->check(range_of(ServeRanges::kMaxBatch));
  command
      ->add_option("--max-delay-ms", core.max_delay_ms,
                   "How long the first queued image waits for others to join its pass")
      ->capture_default_str()
      ->check(range_of(ServeRanges::kMaxDelayMs));
  add_choice(*command, "--batch-wait", core.batch_wait,
             {{"arrivals", BatchWait::kArrivals}, {"delay", BatchWait::kDelay}}, "arrivals",
             "What a pass short of --max-batch waits for, up to --max-delay-ms: arrivals (the "
             "requests already being decoded; none when idle) or delay (always the whole delay)");
  command->add_option("--max-body-mb", core.max_body_mb, "Largest request body, MiB (413 above)")
      ->capture_default_str()
      ->check(range_of(ServeRanges::kMaxBodyMb));
  command->add_option("--queue", core.queue, "Images waiting for a pass at most (503 above)")
      ->capture_default_str()
      ->check(range_of(ServeRanges::kQueue));
  command
      ->add_option("--io-timeout-s", core.io_timeout_s,
                   "A read or write that makes no progress this long closes the connection")
      ->capture_default_str()
      ->check(range_of(ServeRanges::kIoTimeoutS));
  command
      ->add_option("--token-file", core.token_file,
                   "File holding the bearer token that /v1/* and /metrics require")
      ->check(CLI::ExistingFile);
  add_compute_options(*command, core);
  add_choice(*command, "--log-format", core.access_log,
             {{"text", AccessLogFormat::kText}, {"json", AccessLogFormat::kJson}}, "text",
             "text, or json (one object per line)");
  command->footer(
      "SIGTERM or SIGINT: stop accepting, answer what is queued, exit 0. SIGHUP or POST "
      "/v1/reload: load the checkpoint file again; a bad file leaves the old model serving. "
      "Exit codes: 0 stopped by a signal, 1 the checkpoint or the address failed, 2 usage "
      "error.");
  return command;
}

int run_serve(const ServeCliOptions& options, spdlog::logger& log) {
  const ServeOptions& core = options.core;
  if (core.access_log == AccessLogFormat::kJson) use_json_lines(log);
  StopSignals stop;
  ReloadSignal reload;
  ServeHooks hooks;
  hooks.stop_requested = [&stop] { return stop.received() != 0; };
  hooks.take_reload_request = [&reload] { return reload.take(); };
  serve(core, log, hooks);
  return kExitOk;
}

}  // namespace ftl::cli
