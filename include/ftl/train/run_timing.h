// Where a process's part of a run spent its time: <run>/timing.json, written as the process
// ends. It is the breakdown that scripts/bench/training.sh reports beside the wall time of a run,
// and what a user reads to see whether start-up, validation or checkpoints dominate a short job. It
// is apart from metrics.jsonl and summary.json, which hold only what the run computed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace ftl {

struct EpochTiming {
  std::int64_t epoch = 0;          // 1-based
  double features_seconds = 0;     // the feature cache's extraction (or read), where it ran
  double train_seconds = 0;        // the training steps, the loader's waits included
  double loader_wait_seconds = 0;  // of which: waiting for the next batch
  double validate_seconds = 0;     // scoring the validation images (0 where it was skipped)
  double save_seconds = 0;         // what training waited for: last.pt, best.pt, kept epochs
};

struct RunTiming {
  double startup_seconds = 0;       // finetune's start to the first epoch (data and model included)
  double data_seconds = 0;          // of which: listing, splitting and fingerprinting the images
  double model_seconds = 0;         // of which: loading, checking and preparing the network
  std::vector<EpochTiming> epochs;  // the epochs this process ran
  double end_seconds = 0;  // the last epoch to the end: the checkpoints' fsyncs, summary.json
};

/// The breakdown as written to timing.json; seconds rounded to the microsecond.
nlohmann::ordered_json to_json(const RunTiming& timing);

}  // namespace ftl
