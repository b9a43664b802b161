#include "ftl/serve/serve_options.h"

#include "ftl/util/errors.h"

namespace ftl {
namespace {

/// Bounds that keep every value meaningful; above them a setting is a typo, not a choice.
constexpr int kMaxPort = 65535;
constexpr std::int64_t kMaxThreads = 1024;
constexpr std::int64_t kMaxBatch = 4096;
constexpr double kMaxDelayMs = 10000;
constexpr std::int64_t kMaxBodyMb = 4096;
constexpr std::int64_t kMaxQueue = 1 << 20;
constexpr std::int64_t kMaxTimeoutS = 3600;

void require_option(bool ok, const std::string& what) {
  if (!ok) throw ConfigError(what);
}

std::string range_text(const char* name, std::int64_t low, std::int64_t high, std::int64_t got) {
  return std::string(name) + " must be from " + std::to_string(low) + " to " +
         std::to_string(high) + ", got " + std::to_string(got);
}

}  // namespace

void validate_serve_options(const ServeOptions& options) {
  require_option(options.port >= 0 && options.port <= kMaxPort,
                 range_text("port", 0, kMaxPort, options.port));
  require_option(options.threads >= 0 && options.threads <= kMaxThreads,
                 range_text("threads", 0, kMaxThreads, options.threads));
  require_option(options.http_threads >= 1 && options.http_threads <= kMaxThreads,
                 range_text("http_threads", 1, kMaxThreads, options.http_threads));
  require_option(options.max_batch >= 1 && options.max_batch <= kMaxBatch,
                 range_text("max_batch", 1, kMaxBatch, options.max_batch));
  require_option(options.max_delay_ms >= 0 && options.max_delay_ms <= kMaxDelayMs,
                 "max_delay_ms must be from 0 to " + std::to_string(int(kMaxDelayMs)) + ", got " +
                     std::to_string(options.max_delay_ms));
  require_option(options.max_body_mb >= 1 && options.max_body_mb <= kMaxBodyMb,
                 range_text("max_body_mb", 1, kMaxBodyMb, options.max_body_mb));
  require_option(options.queue >= 1 && options.queue <= kMaxQueue,
                 range_text("queue", 1, kMaxQueue, options.queue));
  require_option(options.io_timeout_s >= 1 && options.io_timeout_s <= kMaxTimeoutS,
                 range_text("io_timeout_s", 1, kMaxTimeoutS, options.io_timeout_s));
  require_option(!options.host.empty(), "host must not be empty");
}

}  // namespace ftl
