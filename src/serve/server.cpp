#include "ftl/serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "ftl/serve/service.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"

namespace ftl {
namespace {

/// How often the hooks are polled: the delay before a signal is acted on.
constexpr std::chrono::milliseconds kPollInterval{20};
/// Connections the kernel holds for accept(): cpp-httplib 0.11 listens with a backlog of 5,
/// and a burst of more clients than that would see some connections dropped and retried.
constexpr int kListenBacklog = SOMAXCONN;

// Binds the address with a backlog of kListenBacklog; the port bound (the one asked for, or a
// free one for port 0).
int bind_server(httplib::Server& server, const ServeOptions& options) {
  socket_t listening = INVALID_SOCKET;
  server.set_socket_options([&listening](socket_t socket) {
    configure_listening_socket(socket);
    listening = socket;
  });
  errno = 0;
  int port = options.port;
  bool bound = false;
  if (options.port == 0) {
    port = server.bind_to_any_port(options.host);
    bound = port > 0;
  } else {
    bound = server.bind_to_port(options.host, options.port);
  }
  // listen() again on a listening socket sets its backlog anew (Linux and the BSDs).
  if (bound && ::listen(listening, kListenBacklog) != 0) bound = false;
  // The callback above holds a reference to this frame: the server keeps the plain one.
  server.set_socket_options(configure_listening_socket);
  if (!bound) {
    const int error = errno;
    throw IoError("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                  (error != 0 ? std::string(": ") + std::strerror(error) : std::string()));
  }
  return port;
}

}  // namespace

void serve(const ServeOptions& options, spdlog::logger& log, const ServeHooks& hooks) {
  const std::int64_t threads = configure_compute_threads(options.threads);
  Service service(options, log);
  httplib::Server server;
  const auto http_threads = static_cast<std::size_t>(options.http_threads);
  server.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
  service.mount(server);
  const int port = bind_server(server, options);

  std::atomic<bool> listening_ended{false};
  std::thread listener([&] {
    server.listen_after_bind();
    listening_ended = true;
  });
  // stop() only stops a server that has started listening.
  while (!server.is_running() && !listening_ended) std::this_thread::sleep_for(kPollInterval);
  const std::shared_ptr<const ServedModel> model = service.model();
  log.info("serving {} (sha256 {}, {} classes) on http://{}:{} with {} compute threads",
           options.checkpoint.string(), model->sha256, model->checkpoint.metadata.classes.size(),
           options.host, port, threads);
  if (hooks.listening) hooks.listening(port);

  while (!listening_ended && !(hooks.stop_requested && hooks.stop_requested())) {
    if (hooks.take_reload_request && hooks.take_reload_request()) service.reload();
    std::this_thread::sleep_for(kPollInterval);
  }
  if (listening_ended) {
    listener.join();
    throw IoError("the listening socket on " + options.host + ":" + std::to_string(port) +
                  " failed");
  }
  log.info("stopping: no new connections; finishing the requests in flight");
  service.begin_draining();
  server.stop();
  listener.join();
  log.info("stopped after {} requests", service.answered());
}

}  // namespace ftl
