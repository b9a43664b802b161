#include "ftl/serve/serve_options.h"

#include <sstream>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

// 5, 0.5, 10000: the shortest form, as the flag was typed.
template <typename T>
std::string number_text(T value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

// Throws "NAME must be from LOW to HIGH, got VALUE" when the value is outside the range.
template <typename T>
void require_in(const char* name, OptionRange<T> range, T value) {
  if (value >= range.low && value <= range.high) return;
  throw ConfigError(std::string(name) + " must be from " + number_text(range.low) + " to " +
                    number_text(range.high) + ", got " + number_text(value));
}

}  // namespace

void validate_serve_options(const ServeOptions& options) {
  require_in("port", ServeRanges::kPort, options.port);
  require_in("threads", ServeRanges::kThreads, options.threads);
  require_in("http_threads", ServeRanges::kHttpThreads, options.http_threads);
  require_in("max_batch", ServeRanges::kMaxBatch, options.max_batch);
  require_in("max_delay_ms", ServeRanges::kMaxDelayMs, options.max_delay_ms);
  require_in("max_body_mb", ServeRanges::kMaxBodyMb, options.max_body_mb);
  require_in("queue", ServeRanges::kQueue, options.queue);
  require_in("io_timeout_s", ServeRanges::kIoTimeoutS, options.io_timeout_s);
  if (options.host.empty()) throw ConfigError("host must not be empty");
}

}  // namespace ftl
