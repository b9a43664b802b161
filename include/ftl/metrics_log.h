// The per-epoch record of a run: <run>/metrics.jsonl and <run>/metrics.csv, one line per epoch,
// flushed as each epoch ends so that a crashed or running job can be inspected.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace ftl {

struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  double train_acc = 0;
  double val_loss = 0;
  double val_acc = 0;
  double lr = 0;
  double seconds = 0;       // wall time of the epoch: training and validation
  double images_per_s = 0;  // training images per second
};

/// One epoch as a JSON object, keys in column order.
nlohmann::ordered_json to_json(const EpochMetrics& metrics);

class MetricsLog {
 public:
  /// Creates (truncates) metrics.jsonl and metrics.csv in run_dir.
  explicit MetricsLog(const std::filesystem::path& run_dir);
  /// Appends one epoch to both files and flushes; throws IoError naming the file on failure.
  void append(const EpochMetrics& metrics);

 private:
  std::filesystem::path jsonl_path_;
  std::filesystem::path csv_path_;
  std::ofstream jsonl_;
  std::ofstream csv_;
};

}  // namespace ftl
