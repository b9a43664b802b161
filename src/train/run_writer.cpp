#include "ftl/train/run_writer.h"

#include <set>
#include <system_error>

#include "ftl/data/split.h"
#include "ftl/model/run_layout.h"
#include "ftl/util/errors.h"

namespace fs = std::filesystem;

namespace ftl {

RunWriter::RunWriter(fs::path run_dir, bool writes)
    : run_dir_(std::move(run_dir)), writes_(writes) {}

fs::path RunWriter::checkpoint_path(const std::string& name) const {
  return run_dir_ / kCheckpointDir / name;
}

void RunWriter::init_metadata(const std::vector<std::string>& classes, const Preprocess& preprocess,
                              const nlohmann::json& checkpoint_config, const Checkpoint* last) {
  metadata_.classes = classes;
  metadata_.preprocess = preprocess;
  metadata_.config = checkpoint_config;
  if (last == nullptr) return;
  metadata_.epoch = last->metadata.epoch;
  metadata_.metrics = last->metadata.metrics;
  metadata_.training = last->metadata.training;
}

void RunWriter::prepare(RunMode mode, const nlohmann::json& resolved_config, const RunData& data,
                        std::int64_t keep_epochs, bool ema, spdlog::logger& log) {
  if (!writes_) return;
  if (mode == RunMode::kOverwrite && holds_run(run_dir_)) {
    log.warn("overwrite: replacing the run in {}", run_dir_.string());
    remove_run_outputs(run_dir_);
  }
  create_run_dir(run_dir_);
  remove_stale_temporaries(run_dir_);
  remove_stale_temporaries(run_dir_ / kCheckpointDir);
  write_file_atomic(run_dir_ / kConfigName, resolved_config.dump(2) + "\n");
  write_file_atomic(
      run_dir_ / kDataName,
      data_summary(data, run_dir_).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
          "\n");
  if (data.split) {
    write_manifest(data.train, run_dir_ / kTrainSplitName);
    write_manifest(data.val, run_dir_ / kValSplitName);
  }
  metrics_log_ = std::make_unique<MetricsLog>(run_dir_, keep_epochs, ema);
}

void RunWriter::save_last(TrainingModel& model, std::size_t trainable_tensors,
                          const std::function<torch::jit::ExtraFilesMap()>& resume_state) {
  if (!writes_) return;
  const torch::jit::ExtraFilesMap entries = resume_state();
  const bool training = model.module().is_training();
  model.set_mode(false);
  metadata_.training = model.training_json(trainable_tensors);
  save_behind(model.module(), last_checkpoint_path(run_dir_), entries);
  if (training) model.set_mode(true);
}

// Training waits while the checkpoint is written to a temporary file (ResNet-18: about 0.1 s,
// into the page cache); the fsync and the rename over `path` happen on writer_'s thread.
void RunWriter::save_behind(const torch::jit::Module& module, const fs::path& path,
                            const torch::jit::ExtraFilesMap& entries) {
  const fs::path temp = atomic_temporary(path);
  write_checkpoint_file(module, metadata_, entries, temp, path);
  try {
    writer_.add([temp, path] { commit_temporary(temp, path); });
  } catch (...) {  // an earlier write failed: this one is not committed either
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

// A hard link to last.pt where the file system has them, else a copy of its bytes: either way
// the checkpoint is not serialised a second time. Queued behind last.pt's own commit, so it
// links the finished file; last.pt's next save renames a new file over the name and leaves
// this one as it is.
void RunWriter::copy_last_behind(const fs::path& path) {
  writer_.add([last = last_checkpoint_path(run_dir_), path] {
    const fs::path temp = atomic_temporary(path);
    link_or_copy(last, temp, path);
    commit_temporary(temp, path);
  });
}

void RunWriter::write_kept(const CheckpointRanking::Update& update, std::int64_t epoch,
                           const CheckpointRanking& ranking, spdlog::logger& log) {
  if (!writes_ || (!update.new_best && !update.kept)) return;
  if (update.new_best) {
    copy_last_behind(checkpoint_path(kBestName));
    log.info("new best {} {:.4f}: {}", to_string(ranking.metric()), ranking.best().value,
             checkpoint_path(kBestName).string());
  }
  if (update.kept) copy_last_behind(checkpoint_path(epoch_checkpoint_name(epoch)));
  remove_dropped(update);
}

void RunWriter::remove_dropped(const CheckpointRanking::Update& update) {
  for (const std::int64_t dropped : update.dropped) {
    writer_.add([path = checkpoint_path(epoch_checkpoint_name(dropped))] {
      std::error_code error;
      fs::remove(path, error);
    });
  }
}

void RunWriter::write_kept_average(const CheckpointRanking::Update& update, std::int64_t epoch,
                                   const CheckpointRanking& ranking, TrainingModel& model,
                                   std::size_t trainable_tensors, const nlohmann::json& metrics,
                                   const nlohmann::json& ema, spdlog::logger& log) {
  if (!writes_ || (!update.new_best && !update.kept)) return;
  const CheckpointMetadata trained = metadata_;
  metadata_.metrics = metrics;
  metadata_.training = model.training_json(trainable_tensors);
  metadata_.training["ema"] = ema;
  const bool training = model.module().is_training();
  model.set_mode(false);
  if (update.new_best) {
    save_behind(model.module(), checkpoint_path(kBestName), {});
    log.info("new best {} {:.4f}: {} (the moving average of the weights)",
             to_string(ranking.metric()), ranking.best().value,
             checkpoint_path(kBestName).string());
  }
  if (update.kept) save_behind(model.module(), checkpoint_path(epoch_checkpoint_name(epoch)), {});
  if (training) model.set_mode(true);
  metadata_ = trained;
  remove_dropped(update);
}

void RunWriter::repair_kept(const CheckpointRanking& ranking, const TrainState& state,
                            const Checkpoint& last, spdlog::logger& log) {
  if (!writes_) return;
  std::set<std::string> kept;
  for (const RankedEpoch& entry : ranking.kept()) kept.insert(epoch_checkpoint_name(entry.epoch));
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(run_dir_ / kCheckpointDir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("epoch_", 0) == 0 && kept.count(name) == 0) fs::remove(entry.path(), error);
  }
  const std::int64_t epoch = state.epochs_done;
  if (state.steps_done != 0 || epoch == 0 || last.metadata.epoch != epoch) return;
  if (is_ema_metric(ranking.metric())) return;
  CheckpointRanking::Update update;
  update.new_best = ranking.has_best() && ranking.best().epoch == epoch;
  update.kept = kept.count(epoch_checkpoint_name(epoch)) > 0;
  if (update.new_best) {
    try {
      update.new_best =
          load_checkpoint(checkpoint_path(kBestName), torch::kCPU).metadata.epoch != epoch;
    } catch (const ModelError&) {
      // missing or half-written: write it again
    }
  }
  if (update.kept) update.kept = !fs::exists(checkpoint_path(epoch_checkpoint_name(epoch)));
  write_kept(update, epoch, ranking, log);
}

void RunWriter::append_metrics(const EpochMetrics& metrics) {
  if (writes_) metrics_log_->append(metrics);
}

void RunWriter::write_bad_images(const std::string& text) {
  if (writes_) write_file_atomic(run_dir_ / kBadImagesName, text);
}

void RunWriter::write_summary(const CheckpointRanking& ranking, const TrainState& state,
                              std::size_t bad_images) {
  if (!writes_) return;
  writer_.wait();  // the summary names checkpoints: they are on disk first
  nlohmann::ordered_json kept = nlohmann::ordered_json::array();
  for (const RankedEpoch& entry : ranking.kept()) {
    kept.push_back({{"epoch", entry.epoch},
                    {"value", entry.value},
                    {"path", checkpoint_path(epoch_checkpoint_name(entry.epoch)).string()}});
  }
  const FinetuneResult summary = result(ranking, state, /*resumed=*/false);
  const nlohmann::ordered_json json = {{"stop_reason", summary.stop_reason},
                                       {"stop_message", summary.stop_message},
                                       {"epochs", summary.epochs},
                                       {"best_metric", summary.best_metric},
                                       {"best_epoch", summary.best_epoch},
                                       {"best_value", summary.best_value},
                                       {"best_checkpoint", summary.best_checkpoint.string()},
                                       {"bad_images", bad_images},
                                       {"top_k", kept}};
  write_file_atomic(run_dir_ / kSummaryName, json.dump(2) + "\n");
}

void RunWriter::write_timing(const RunTiming& timing) {
  if (writes_) write_file_atomic(run_dir_ / kTimingName, to_json(timing).dump(2) + "\n");
}

FinetuneResult RunWriter::result(const CheckpointRanking& ranking, const TrainState& state,
                                 bool resumed) const {
  FinetuneResult result;
  result.run_dir = run_dir_;
  result.best_checkpoint = checkpoint_path(kBestName);
  result.best_metric = to_string(ranking.metric());
  result.best_value = ranking.best().value;
  result.best_epoch = ranking.best().epoch;
  result.epochs = state.epochs_done;
  result.stop_reason = state.stop_reason;
  result.stop_message = state.stop_message;
  result.resumed = resumed;
  if (metrics_log_) {
    for (const auto& line : metrics_log_->lines()) {
      if (line.at("epoch") != result.best_epoch) continue;
      result.best_val_acc = line.at(is_ema_metric(ranking.metric()) ? "val_acc_ema" : "val_acc");
    }
  } else if (writes_ && fs::exists(result.best_checkpoint)) {
    result.best_val_acc =
        load_checkpoint(result.best_checkpoint, torch::kCPU).metadata.metrics.value("val_acc", 0.0);
  }
  return result;
}

}  // namespace ftl
