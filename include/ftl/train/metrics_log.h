// The per-epoch record of a run: <run>/metrics.jsonl and <run>/metrics.csv, one line per epoch,
// flushed as each epoch ends so that a crashed or running job can be inspected.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ftl {

struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  double train_acc = 0;
  double val_loss = 0;
  double val_acc = 0;
  double lr = 0;            // head lr of the epoch's first step (backbone: x backbone_lr_mult)
  double lr_end = 0;        // head lr of its last step (they differ under warmup and cosine)
  double seconds = 0;       // wall time of the epoch: training and validation
  double images_per_s = 0;  // training images per second
  std::string stop;         // on the run's last epoch: "completed" or "early_stopping"
  bool validated = true;    // false where train.val_every skipped it: val_* are written null
  bool has_ema = false;     // train.ema is on: val_loss_ema and val_acc_ema are columns too
  double val_loss_ema = 0;  // the moving average of the weights, validated (train.ema)
  double val_acc_ema = 0;
};

/// One epoch as a JSON object, keys in column order.
nlohmann::ordered_json to_json(const EpochMetrics& metrics);

class MetricsLog {
 public:
  /// Creates metrics.jsonl and metrics.csv in run_dir, with the EMA's columns when `ema`. A
  /// resumed run keeps the first `keep_epochs` lines of its earlier part (lines after them were
  /// written by epochs that the resume state does not include); IoError when fewer are there.
  explicit MetricsLog(const std::filesystem::path& run_dir, std::int64_t keep_epochs = 0,
                      bool ema = false);
  /// Appends one epoch to both files and flushes; throws IoError naming the file on failure.
  void append(const EpochMetrics& metrics);

  /// The kept and appended lines, oldest first.
  const std::vector<nlohmann::ordered_json>& lines() const { return lines_; }

 private:
  void write_line(const nlohmann::ordered_json& line);

  std::vector<std::string> columns_;  // of both files, in to_json's order
  std::filesystem::path jsonl_path_;
  std::filesystem::path csv_path_;
  std::ofstream jsonl_;
  std::ofstream csv_;
  std::vector<nlohmann::ordered_json> lines_;
};

}  // namespace ftl
