// `ftl finetune`: fine-tunes a TorchScript ResNet-18 on an ImageFolder dataset with SGD and
// cross-entropy, writing config.json, metrics.jsonl/csv and checkpoints/{last,best}.pt.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <filesystem>
#include <functional>

#include "ftl/config.h"

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
};

struct FinetuneResult {
  std::filesystem::path run_dir;
  std::filesystem::path best_checkpoint;
  std::int64_t best_epoch = 0;
  double best_val_acc = 0;
  std::int64_t epochs = 0;
};

/// Runs the whole job. Throws ConfigError for a bad config or device, DataError, ModelError
/// or IoError with the file concerned; a run folder that already holds a run is refused, so
/// nothing written by an earlier run is overwritten.
FinetuneResult finetune(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks = {});

}  // namespace ftl
