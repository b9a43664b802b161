// What finetune returns: the run folder, the best checkpoint and why the run stopped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ftl {

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

}  // namespace ftl
