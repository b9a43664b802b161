// Which epochs' checkpoints to keep: best.pt is the best epoch by train.best_metric, and
// keep_top_k keeps the k best epochs as checkpoints/epoch_NNN.pt. Ties go to the earlier epoch.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/config/choices.h"

namespace ftl {

struct RankedEpoch {
  std::int64_t epoch = 0;
  double value = 0;
};

class CheckpointRanking {
 public:
  CheckpointRanking(Metric metric, std::int64_t keep_top_k)
      : metric_(metric), keep_top_k_(keep_top_k) {}

  struct Update {
    bool new_best = false;              // write best.pt
    bool kept = false;                  // write epoch_NNN.pt for this epoch
    std::vector<std::int64_t> dropped;  // epochs whose epoch_NNN.pt is no longer kept
  };

  /// Records an epoch's value of the ranking metric.
  Update add(std::int64_t epoch, double value);

  Metric metric() const { return metric_; }
  bool has_best() const { return has_best_; }
  const RankedEpoch& best() const { return best_; }
  /// The kept epochs, best first.
  const std::vector<RankedEpoch>& kept() const { return kept_; }

  nlohmann::json to_json() const;
  void restore(const nlohmann::json& json);

 private:
  bool better(const RankedEpoch& a, const RankedEpoch& b) const;

  Metric metric_;
  std::int64_t keep_top_k_;
  bool has_best_ = false;
  RankedEpoch best_;
  std::vector<RankedEpoch> kept_;
};

/// checkpoints/epoch_NNN.pt, relative to the run folder.
std::string epoch_checkpoint_name(std::int64_t epoch);

}  // namespace ftl
