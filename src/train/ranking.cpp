#include "ftl/train/ranking.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>

#include "ftl/train/early_stopping.h"

namespace ftl {

bool CheckpointRanking::better(const RankedEpoch& a, const RankedEpoch& b) const {
  if (improves(metric_, a.value, b.value, /*min_delta=*/0)) return true;
  if (improves(metric_, b.value, a.value, /*min_delta=*/0)) return false;
  return a.epoch < b.epoch;
}

CheckpointRanking::Update CheckpointRanking::add(std::int64_t epoch, double value) {
  const RankedEpoch entry{epoch, value};
  Update update;
  if (!has_best_ || better(entry, best_)) {
    has_best_ = true;
    best_ = entry;
    update.new_best = true;
  }
  if (keep_top_k_ <= 0) return update;
  kept_.push_back(entry);
  std::stable_sort(kept_.begin(), kept_.end(),
                   [this](const RankedEpoch& a, const RankedEpoch& b) { return better(a, b); });
  while (static_cast<std::int64_t>(kept_.size()) > keep_top_k_) {
    update.dropped.push_back(kept_.back().epoch);
    kept_.pop_back();
  }
  update.kept = std::any_of(kept_.begin(), kept_.end(),
                            [epoch](const RankedEpoch& kept) { return kept.epoch == epoch; });
  if (!update.kept) update.dropped.clear();  // the new epoch itself fell out: nothing was written
  return update;
}

nlohmann::json CheckpointRanking::to_json() const {
  nlohmann::json kept = nlohmann::json::array();
  for (const RankedEpoch& entry : kept_)
    kept.push_back({{"epoch", entry.epoch}, {"value", entry.value}});
  nlohmann::json json = {{"metric", to_string(metric_)}, {"kept", kept}};
  if (has_best_) json["best"] = {{"epoch", best_.epoch}, {"value", best_.value}};
  return json;
}

void CheckpointRanking::restore(const nlohmann::json& json) {
  has_best_ = json.contains("best");
  if (has_best_)
    best_ = {json["best"].at("epoch").get<std::int64_t>(), json["best"].at("value").get<double>()};
  kept_.clear();
  for (const nlohmann::json& entry : json.at("kept")) {
    kept_.push_back({entry.at("epoch").get<std::int64_t>(), entry.at("value").get<double>()});
  }
}

std::string epoch_checkpoint_name(std::int64_t epoch) {
  return fmt::format("epoch_{:03d}.pt", epoch);
}

}  // namespace ftl
