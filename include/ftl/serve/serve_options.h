// What `ftl serve` is told: the checkpoint, where to listen, how to batch, and its limits.
// One struct, embedded by the CLI's options, with each default written once here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ftl/eval/inference_options.h"

namespace ftl {

/// How the access lines are written.
enum class AccessLogFormat {
  kText,  // "POST /v1/predict 200 3 images 12.4 ms"
  kJson,  // {"method":"POST","path":"/v1/predict","status":200,"images":3,"ms":12.4}
};

/// What a forward pass that has fewer than max_batch images waits for, up to max_delay.
enum class BatchWait {
  kArrivals,  // only the requests already arriving (read, and being decoded): none when idle
  kDelay,     // the whole max_delay, whatever is arriving: larger passes, longer waits
};

/// How the network computes (InferenceCompute, as evaluate and predict take it), and the rest.
struct ServeOptions : InferenceCompute {
  std::filesystem::path checkpoint;  // a best.pt / last.pt written by ftl finetune
  std::string host = "127.0.0.1";    // the address to listen on: loopback only by default
  int port = 8080;                   // the TCP port; 0 = any free one (the log names it)
  std::int64_t http_threads = 32;    // connections served at once (each holds one thread)
  std::int64_t max_batch = 16;       // images per forward pass at most
  double max_delay_ms = 5;           // how long the first queued image waits for others
  BatchWait batch_wait = BatchWait::kArrivals;  // what a pass short of max_batch waits for
  std::int64_t max_body_mb = 20;                // largest request body, in MiB (413 above it)
  std::int64_t queue = 256;          // images waiting for a forward pass at most (503 above it)
  std::int64_t io_timeout_s = 10;    // a read or write that makes no progress this long fails
  std::filesystem::path token_file;  // holds the bearer token that requests must send; empty =
                                     // no token asked for
  AccessLogFormat access_log = AccessLogFormat::kText;  // the form of the access lines
};

/// The closed range of a numeric option; outside it a setting is a typo, not a choice.
template <typename T>
struct OptionRange {
  T low;
  T high;
};

/// Each numeric option's range, written once: validate_serve_options and the CLI's flag
/// checks both read it.
struct ServeRanges {
  static constexpr OptionRange<int> kPort{0, 65535};
  static constexpr OptionRange<std::int64_t> kThreads{0, InferenceCompute::kMaxThreads};
  static constexpr OptionRange<std::int64_t> kHttpThreads{1, 1024};
  static constexpr OptionRange<std::int64_t> kMaxBatch{1, 4096};
  static constexpr OptionRange<double> kMaxDelayMs{0, 10000};
  static constexpr OptionRange<std::int64_t> kMaxBodyMb{1, 4096};
  static constexpr OptionRange<std::int64_t> kQueue{1, std::int64_t{1} << 20};
  static constexpr OptionRange<std::int64_t> kIoTimeoutS{1, 3600};
};

/// Throws ConfigError naming the option when a value is out of its range.
void validate_serve_options(const ServeOptions& options);

}  // namespace ftl
