// Everything a run writes into its folder (output.dir), in the manner of timm's
// CheckpointSaver: the folder's set-up, checkpoints/last.pt with the resume state, best.pt and
// the top-k epochs, metrics.jsonl/csv, bad_images.txt, summary.json, and the repair of what a
// kill cut short. Checkpoint files reach the disk on a background thread while training goes
// on. In a distributed run rank 0 alone writes: the other ranks' writers record nothing.
#pragma once

#include <spdlog/logger.h>
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/model/checkpoint.h"
#include "ftl/model/train_state.h"
#include "ftl/train/finetune_result.h"
#include "ftl/train/metrics_log.h"
#include "ftl/train/ranking.h"
#include "ftl/train/run_data.h"
#include "ftl/train/run_folder.h"
#include "ftl/train/run_timing.h"
#include "ftl/train/training_model.h"
#include "ftl/util/files.h"

namespace ftl {

class RunWriter {
 public:
  /// `writes` is false on every rank but rank 0.
  RunWriter(std::filesystem::path run_dir, bool writes);

  bool writes() const { return writes_; }
  std::filesystem::path checkpoint_path(const std::string& name) const;
  /// What every checkpoint records; a resumed run starts from last.pt's epoch and metrics.
  CheckpointMetadata& metadata() { return metadata_; }
  void init_metadata(const std::vector<std::string>& classes, const Preprocess& preprocess,
                     const nlohmann::json& checkpoint_config, const Checkpoint* last);

  /// Makes the folder ready for training: replaces the run there (kOverwrite), creates it and
  /// checkpoints/, removes a killed write's temporaries, writes config.json, data.json and a
  /// split's manifests, and opens the metrics log keeping `keep_epochs` lines (with the EMA's
  /// columns when `ema`).
  void prepare(RunMode mode, const nlohmann::json& resolved_config, const RunData& data,
               std::int64_t keep_epochs, bool ema, spdlog::logger& log);

  /// Writes last.pt in eval mode (as every checkpoint is saved), with the entries that
  /// `resume_state` makes (called only where this writer writes), by one atomic rename: a kill
  /// at any moment leaves the previous or the new last.pt, whole.
  void save_last(TrainingModel& model, std::size_t trainable_tensors,
                 const std::function<torch::jit::ExtraFilesMap()>& resume_state);
  /// best.pt and epoch_NNN.pt as `update` decides, each the same file as last.pt, which
  /// must hold `epoch` (saved by save_last just before, or found by repair_kept); and the
  /// removal of dropped epochs' files.
  void write_kept(const CheckpointRanking::Update& update, std::int64_t epoch,
                  const CheckpointRanking& ranking, spdlog::logger& log);
  /// The same files when the ranking is of the weights' moving average (train.best_metric
  /// val_*_ema): each saved from `model`, which the caller makes hold the average, with
  /// `metrics` and `ema` (what the average is) in its metadata. Called before save_last, so
  /// that the kept files land before the last.pt that records them.
  void write_kept_average(const CheckpointRanking::Update& update, std::int64_t epoch,
                          const CheckpointRanking& ranking, TrainingModel& model,
                          std::size_t trainable_tensors, const nlohmann::json& metrics,
                          const nlohmann::json& ema, spdlog::logger& log);
  /// A run killed after saving last.pt at an epoch end, but before writing best.pt or that
  /// epoch's epoch_NNN.pt, is completed here from last.pt, which holds that very epoch's
  /// weights. Kept files that the ranking has since dropped are removed. A ranking of the
  /// moving average has nothing to complete: its files land before last.pt.
  void repair_kept(const CheckpointRanking& ranking, const TrainState& state,
                   const Checkpoint& last, spdlog::logger& log);

  void append_metrics(const EpochMetrics& metrics);
  void write_bad_images(const std::string& text);
  /// summary.json, once the checkpoints it names are on disk.
  void write_summary(const CheckpointRanking& ranking, const TrainState& state,
                     std::size_t bad_images);
  /// timing.json: where this process's part of the run spent its time.
  void write_timing(const RunTiming& timing);
  /// What finetune returns.
  FinetuneResult result(const CheckpointRanking& ranking, const TrainState& state,
                        bool resumed) const;

  /// Rethrows the error of a checkpoint write that failed, without waiting.
  void check() { writer_.check(); }
  /// Waits until every checkpoint queued has reached the disk.
  void wait() { writer_.wait(); }

 private:
  void save_behind(const torch::jit::Module& module, const std::filesystem::path& path,
                   const torch::jit::ExtraFilesMap& entries);
  void copy_last_behind(const std::filesystem::path& path);
  void remove_dropped(const CheckpointRanking::Update& update);

  const std::filesystem::path run_dir_;
  const bool writes_;
  CheckpointMetadata metadata_;
  std::unique_ptr<MetricsLog> metrics_log_;
  // Last, so that it is destroyed first: it finishes its jobs before anything else goes away.
  BackgroundWriter writer_;
};

}  // namespace ftl
