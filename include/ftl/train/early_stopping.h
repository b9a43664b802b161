// Early stopping: ends a run when the watched validation metric has not improved by more than
// min_delta for `patience` epochs. Its counters are part of the resume state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/config/config.h"

namespace ftl {

/// Whether `value` beats `best` by more than min_delta, for a metric where lower is better
/// (losses) or higher is better (accuracies).
bool improves(Metric metric, double value, double best, double min_delta);

class EarlyStopping {
 public:
  explicit EarlyStopping(EarlyStoppingConfig config) : config_(std::move(config)) {}

  bool enabled() const { return config_.patience > 0; }

  /// Records an epoch's value of the watched metric; true when the run should stop now.
  bool update(std::int64_t epoch, double value);

  /// Why the run stopped, for the log and the run summary.
  std::string reason() const;

  nlohmann::json to_json() const;
  void restore(const nlohmann::json& json);

 private:
  EarlyStoppingConfig config_;
  bool has_best_ = false;
  double best_ = 0;
  std::int64_t best_epoch_ = 0;
  std::int64_t bad_epochs_ = 0;  // consecutive epochs without improvement
};

}  // namespace ftl
