// `ftl serve`'s lifecycle: load the checkpoint, listen, answer until told to stop, then stop
// accepting, finish what is queued and return. The front end owns the signals and tells the
// server through polled hooks, as FinetuneHooks does for training: the core installs none.
#pragma once

#include <spdlog/logger.h>

#include <functional>

#include "ftl/serve/serve_options.h"

namespace ftl {

struct ServeHooks {
  std::function<bool()> stop_requested;       // polled: true once the server is to stop
  std::function<bool()> take_reload_request;  // polled: true once per asked-for reload
  std::function<void(int port)> listening;    // told the port once it accepts connections
};

/// Serves until hooks.stop_requested(); returns once every accepted request is answered.
/// Throws ConfigError (options, token file), ModelError (the checkpoint) or IoError (the
/// address cannot be listened on) before it answers anything.
void serve(const ServeOptions& options, spdlog::logger& log, const ServeHooks& hooks);

}  // namespace ftl
