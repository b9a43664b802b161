#include "ftl/serve/serve_metrics.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>

namespace ftl {
namespace {

/// The path label of a request to none of the routes.
constexpr const char* kOtherPath = "other";

/// Latency bounds in seconds: a forward pass here takes milliseconds to a second.
const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

// Batch sizes 1, 2, 4, ... up to max_batch, which is always a bound of its own.
std::vector<double> batch_bounds(std::int64_t max_batch) {
  std::vector<double> bounds;
  for (std::int64_t size = 1; size < max_batch; size *= 2) bounds.push_back(double(size));
  bounds.push_back(double(max_batch));
  return bounds;
}

// A label value as the text format quotes it: backslash, quote and line feed escaped.
std::string label_value(const std::string& text) {
  std::string quoted;
  for (const char c : text) {
    if (c == '\\' || c == '"') quoted += '\\';
    if (c == '\n') {
      quoted += "\\n";
      continue;
    }
    quoted += c;
  }
  return quoted;
}

void append_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const Histogram& histogram) {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < histogram.bounds.size(); ++i) {
    cumulative += histogram.counts[i];
    out +=
        fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, prefix, histogram.bounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, prefix, histogram.count);
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, histogram.sum, name, braces,
                     histogram.count);
}

// The HELP and TYPE lines that open a metric family.
std::string metric_header(const std::string& name, const std::string& type,
                          const std::string& help) {
  return fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// A histogram family of one unlabelled histogram: its header, then its series.
void append_histogram_family(std::string& out, const std::string& name, const std::string& help,
                             const Histogram& histogram) {
  out += metric_header(name, "histogram", help);
  append_histogram(out, name, "", histogram);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds_in)
    : bounds(std::move(bounds_in)), counts(bounds.size(), 0) {}

void Histogram::observe(double value) {
  const auto slot = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
  if (static_cast<std::size_t>(slot) < counts.size()) ++counts[static_cast<std::size_t>(slot)];
  ++count;
  sum += value;
}

ServeMetrics::ServeMetrics(std::vector<std::string> paths, std::int64_t max_batch)
    : paths_(std::move(paths)),
      batch_sizes_(batch_bounds(max_batch)),
      pass_seconds_(kLatencyBounds),
      decode_seconds_(kLatencyBounds),
      queued_seconds_(kLatencyBounds) {}

std::string ServeMetrics::path_label(const std::string& path) const {
  for (const std::string& route : paths_) {
    if (route == path) return route;
  }
  return kOtherPath;
}

void ServeMetrics::record_request(const std::string& path, int status, double seconds) {
  const std::string label = path_label(path);
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{label, status}];
  auto found = latency_.find(label);
  if (found == latency_.end()) found = latency_.emplace(label, Histogram(kLatencyBounds)).first;
  found->second.observe(seconds);
}

void ServeMetrics::record_pass(const PassRecord& pass) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_sizes_.observe(double(pass.images));
  images_ += pass.images;
  pass_seconds_.observe(pass.seconds);
  decode_seconds_.observe(pass.decode_seconds);
  for (const double queued : pass.queued_seconds) queued_seconds_.observe(queued);
}

void ServeMetrics::record_reload(bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++(ok ? reloads_ok_ : reloads_failed_);
}

std::string ServeMetrics::prometheus_text(const MetricsSnapshot& snapshot) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out += metric_header("ftl_http_requests_total", "counter",
                       "HTTP requests answered, by path and status code.");
  for (const auto& [key, count] : requests_) {
    out += fmt::format("ftl_http_requests_total{{path=\"{}\",code=\"{}\"}} {}\n",
                       label_value(key.first), key.second, count);
  }
  out += metric_header("ftl_http_request_duration_seconds", "histogram",
                       "Time from a request's arrival to its answer.");
  for (const auto& [path, histogram] : latency_) {
    append_histogram(out, "ftl_http_request_duration_seconds", "path=\"" + label_value(path) + "\"",
                     histogram);
  }
  append_histogram_family(out, "ftl_batch_size", "Images per forward pass.", batch_sizes_);
  append_histogram_family(out, "ftl_pass_duration_seconds",
                          "Time of each forward pass, inputs to probabilities.", pass_seconds_);
  append_histogram_family(out, "ftl_decode_duration_seconds",
                          "Time of each pass's decoding of its images.", decode_seconds_);
  append_histogram_family(out, "ftl_queue_wait_seconds",
                          "Time each image waited in the queue for its pass.", queued_seconds_);
  out += metric_header("ftl_images_classified_total", "counter", "Images run through the network.");
  out += fmt::format("ftl_images_classified_total {}\n", images_);
  out += metric_header("ftl_queue_depth", "gauge", "Images waiting for a forward pass.");
  out += fmt::format("ftl_queue_depth {}\n", snapshot.queue_depth);
  out +=
      metric_header("ftl_model_reloads_total", "counter", "Reloads of the checkpoint, by result.");
  out += fmt::format("ftl_model_reloads_total{{result=\"ok\"}} {}\n", reloads_ok_);
  out += fmt::format("ftl_model_reloads_total{{result=\"failed\"}} {}\n", reloads_failed_);
  out += metric_header("ftl_model_info", "gauge", "The checkpoint being served.");
  out +=
      fmt::format("ftl_model_info{{file=\"{}\",sha256=\"{}\",epoch=\"{}\",precision=\"{}\"}} 1\n",
                  label_value(snapshot.model_file), label_value(snapshot.model_sha256),
                  snapshot.model_epoch, label_value(snapshot.model_precision));
  return out;
}

}  // namespace ftl
