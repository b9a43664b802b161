// The counters a server exposes on GET /metrics, in Prometheus's text format (version 0.0.4):
// requests by path and status code, a latency histogram per path, the batch-size histogram,
// the time per pass, its decoding and the time each image waited for one, images classified, the
// queue depth and the served model's identity. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ftl {

/// Counts of observations at or below each bound, as a Prometheus histogram keeps them.
struct Histogram {
  explicit Histogram(std::vector<double> bounds_in);
  void observe(double value);

  std::vector<double> bounds;         // upper bounds, ascending; +Inf is implied
  std::vector<std::uint64_t> counts;  // per bound, not cumulative
  std::uint64_t count = 0;            // every observation
  double sum = 0;                     // of every observation
};

/// What the exposition reads from outside the counters at the moment it is scraped.
struct MetricsSnapshot {
  std::size_t queue_depth = 0;  // images waiting for a pass
  std::string model_file;       // the served checkpoint's file name
  std::string model_sha256;
  std::int64_t model_epoch = 0;
  std::string model_precision = "fp32";  // what the served network computes in
};

/// One forward pass, as the batcher saw it: how many images, how long making their inputs
/// (decoding) and the network took, and how long each image had waited in the queue before
/// the pass began.
struct PassRecord {
  std::size_t images = 0;              // run through the network
  double seconds = 0;                  // from the stacked inputs to the probabilities
  std::vector<double> queued_seconds;  // one per image taken from the queue
  double decode_seconds = 0;           // making the inputs, before the network
};

class ServeMetrics {
 public:
  /// `paths` are the server's routes: any other path is counted as "other", so that a
  /// scanner's requests cannot grow the label set without bound.
  ServeMetrics(std::vector<std::string> paths, std::int64_t max_batch);

  void record_request(const std::string& path, int status, double seconds);
  /// The pass's size (ftl_batch_size, ftl_images_classified_total), its duration
  /// (ftl_pass_duration_seconds), its inputs' decoding (ftl_decode_duration_seconds) and each
  /// image's wait (ftl_queue_wait_seconds).
  void record_pass(const PassRecord& pass);
  void record_reload(bool ok);

  std::string prometheus_text(const MetricsSnapshot& snapshot) const;

  /// The label a request's path is counted under: the route itself or "other".
  std::string path_label(const std::string& path) const;

 private:
  std::vector<std::string> paths_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // (path, status) -> count
  std::map<std::string, Histogram> latency_;                       // path -> seconds
  Histogram batch_sizes_;
  Histogram pass_seconds_;
  Histogram decode_seconds_;
  Histogram queued_seconds_;
  std::uint64_t images_ = 0;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
};

}  // namespace ftl
