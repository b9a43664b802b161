#include "ftl/train/early_stopping.h"

#include <spdlog/fmt/fmt.h>

namespace ftl {

bool improves(Metric metric, double value, double best, double min_delta) {
  const bool lower = lower_is_better(metric);
  return lower ? value < best - min_delta : value > best + min_delta;
}

bool EarlyStopping::update(std::int64_t epoch, double value) {
  if (!has_best_ || improves(config_.metric, value, best_, config_.min_delta)) {
    has_best_ = true;
    best_ = value;
    best_epoch_ = epoch;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  return enabled() && bad_epochs_ >= config_.patience;
}

std::string EarlyStopping::reason() const {
  return fmt::format(
      "early stopping: {} did not improve by more than {:g} for {} epochs (best {:.6g} "
      "at epoch {})",
      to_string(config_.metric), config_.min_delta, bad_epochs_, best_, best_epoch_);
}

nlohmann::json EarlyStopping::to_json() const {
  return {{"has_best", has_best_},
          {"best", best_},
          {"best_epoch", best_epoch_},
          {"bad_epochs", bad_epochs_}};
}

void EarlyStopping::restore(const nlohmann::json& json) {
  has_best_ = json.at("has_best").get<bool>();
  best_ = json.at("best").get<double>();
  best_epoch_ = json.at("best_epoch").get<std::int64_t>();
  bad_epochs_ = json.at("bad_epochs").get<std::int64_t>();
}

}  // namespace ftl
