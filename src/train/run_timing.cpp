#include "ftl/train/run_timing.h"

#include <cmath>

namespace ftl {
namespace {

constexpr double kMicrosecondsPerSecond = 1e6;

// Nanoseconds are noise, and digits that make the file hard to read.
double rounded(double seconds) {
  return std::round(seconds * kMicrosecondsPerSecond) / kMicrosecondsPerSecond;
}

}  // namespace

nlohmann::ordered_json to_json(const RunTiming& timing) {
  nlohmann::ordered_json epochs = nlohmann::ordered_json::array();
  for (const EpochTiming& epoch : timing.epochs) {
    epochs.push_back({{"epoch", epoch.epoch},
                      {"features_seconds", rounded(epoch.features_seconds)},
                      {"train_seconds", rounded(epoch.train_seconds)},
                      {"loader_wait_seconds", rounded(epoch.loader_wait_seconds)},
                      {"validate_seconds", rounded(epoch.validate_seconds)},
                      {"save_seconds", rounded(epoch.save_seconds)}});
  }
  return {{"startup_seconds", rounded(timing.startup_seconds)},
          {"data_seconds", rounded(timing.data_seconds)},
          {"model_seconds", rounded(timing.model_seconds)},
          {"epochs", epochs},
          {"end_seconds", rounded(timing.end_seconds)}};
}

}  // namespace ftl
