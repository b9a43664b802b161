// `ftl finetune`: fine-tunes a TorchScript ResNet-18 on an ImageFolder dataset with SGD and
// cross-entropy, writing config.json, metrics.jsonl/csv, summary.json and checkpoints/
// (last.pt with the resume state, best.pt, and the top-k epochs when asked for).
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "ftl/config/config.h"
#include "ftl/dist/launch.h"
#include "ftl/train/run_folder.h"

namespace ftl {

/// Where a training epoch stands, for a progress display.
struct BatchProgress {
  std::int64_t epoch = 0;  // 1-based
  std::int64_t epochs = 0;
  std::size_t batch = 0;  // batches done in this epoch
  std::size_t batches = 0;
  double loss = 0;  // mean training loss so far this epoch
};

struct FinetuneHooks {
  std::function<void(const BatchProgress&)> on_batch;  // called after each training step
  std::function<void()> on_epoch_end;                  // called before the epoch's log line
  /// Polled after every step (the last step of an epoch: once the epoch is validated and
  /// saved): a signal number asks the run to save last.pt with its resume state and throw
  /// Interrupted; 0 lets it go on.
  std::function<int()> stop_requested;
};

struct FinetuneResult {
  std::filesystem::path run_dir;
  std::filesystem::path best_checkpoint;
  std::string best_metric;  // train.best_metric
  double best_value = 0;    // its value at best_epoch
  std::int64_t best_epoch = 0;
  double best_val_acc = 0;   // val_acc at best_epoch
  std::int64_t epochs = 0;   // epochs completed
  std::string stop_reason;   // "completed" or "early_stopping"
  std::string stop_message;  // the same for people
  bool resumed = false;
};

/// Runs the whole job. Throws ConfigError for a bad config or device, DataError, ModelError
/// or IoError with the file concerned, TrainingError when the loss stops being finite, and
/// Interrupted after saving when hooks.stop_requested asks. In RunMode::kNew a run folder
/// that already holds a run is refused, so nothing written by an earlier run is overwritten.
///
/// With launch.world_size > 1 this process is one rank of a data-parallel run: every rank
/// calls finetune with the same config; rank 0 alone writes the run folder (a resumed run's
/// folder must be readable by every rank). A rank that fails or dies makes the others throw
/// DistributedError within dist.timeout_s.
FinetuneResult finetune(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks = {},
                        RunMode mode = RunMode::kNew, const Launch& launch = {});

}  // namespace ftl
