// The HTTP API of `ftl serve`, mounted on a cpp-httplib server: each route's request turned
// into its answer, the limits and errors as JSON with their status codes, the token check, the
// metrics and the access line of every request. The lifecycle (listening, signals, draining)
// is server.h's; this is what one request meets, and what the fuzz target drives.
//
//   POST /v1/predict   one JPEG/PNG body, or multipart/form-data; ?top_k=K
//   GET  /v1/model     classes, preprocessing, metrics and identity of the checkpoint
//   POST /v1/reload    load the checkpoint file again and swap it in
//   GET  /healthz      the process answers            GET /readyz   a model, room in the queue
//   GET  /metrics      Prometheus text format
#pragma once

#include <httplib.h>
#include <spdlog/logger.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/serve/batcher.h"
#include "ftl/serve/serve_metrics.h"
#include "ftl/serve/serve_options.h"
#include "ftl/serve/served_model.h"

namespace ftl {

/// An answer before it is written: status, JSON (or text) body, the images it concerned.
struct Reply {
  int status = 200;
  nlohmann::ordered_json body;  // written as JSON unless `text` is set
  std::string text;             // a non-JSON body (the metrics), with its content type
  std::string content_type;
  std::size_t images = 0;                                    // for the access line
  std::vector<std::pair<std::string, std::string>> headers;  // Retry-After, Allow, ...
};

/// The result of a reload: the model now served, and why the new one was refused.
struct ReloadOutcome {
  bool ok = false;
  std::string error;  // empty when ok
  std::shared_ptr<const ServedModel> model;
};

/// The socket options of a listening socket of ftl's routes (Service::mount sets them).
void configure_listening_socket(socket_t socket);

class Service {
 public:
  /// Loads the checkpoint and the token; throws ConfigError (a bad option or token file) or
  /// ModelError (a bad checkpoint) before anything listens. The calling thread (and reload()'s)
  /// keeps its LibTorch operations to itself from then on (keep_compute_on_this_thread): the
  /// cores are the pass thread's.
  Service(const ServeOptions& options, spdlog::logger& log);

  /// Registers the routes and the error handlers on `server`, and gives it the options' I/O
  /// timeouts, body limit and socket options: every server of ftl's routes is set up here.
  void mount(httplib::Server& server);

  /// From now on predictions and readiness answer 503: the server is stopping.
  void begin_draining();

  /// Loads the checkpoint file again, verified as at start-up, and swaps it in for the
  /// requests that come after; a file that fails leaves the old model serving.
  ReloadOutcome reload();

  /// The model now served.
  std::shared_ptr<const ServedModel> model() const;

  /// Requests answered so far, for the closing log line.
  std::size_t answered() const { return answered_.load(); }

 private:
  struct Route {
    const char* method;  // "GET" or "POST"
    const char* path;
    bool needs_token;  // when a token file is given
    Reply (Service::*handler)(const httplib::Request&);
  };

  // The checkpoint file loaded, verified and frozen (logged when freezing fails), its first
  // pass run: what start-up and reload() both swap in.
  std::shared_ptr<const ServedModel> load_and_warm_up();

  Reply predict(const httplib::Request& request);
  Reply describe_model(const httplib::Request& request);
  Reply reload_route(const httplib::Request& request);
  Reply health(const httplib::Request& request);
  Reply readiness(const httplib::Request& request);
  Reply metrics(const httplib::Request& request);

  // Runs a route: the token check, the handler (its exceptions become 500), then the reply is
  // written, counted and logged.
  void answer(const Route& route, const httplib::Request& request, httplib::Response& response);
  // Gives the errors that cpp-httplib answers itself (404, 400, 413, ...) a JSON body, and
  // turns a 404 on a known path with another method into 405.
  httplib::Server::HandlerResponse on_error(const httplib::Request& request,
                                            httplib::Response& response);
  bool authorized(const httplib::Request& request) const;
  void finish(const httplib::Request& request, const Reply& reply, httplib::Response& response,
              double seconds);

  ServeOptions options_;
  spdlog::logger& log_;
  torch::Device device_;
  std::string token_;  // empty: no token asked for. Never logged.
  std::vector<Route> routes_;
  ServeMetrics metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<std::size_t> answered_{0};
  mutable std::mutex model_mutex_;
  std::shared_ptr<const ServedModel> model_;
  std::mutex reload_mutex_;  // one reload at a time
  Batcher batcher_;          // last: destroyed first, finishing its passes while the rest lives
};

}  // namespace ftl
