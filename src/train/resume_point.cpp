#include "ftl/train/resume_point.h"

#include <spdlog/fmt/fmt.h>

#include "ftl/config/config.h"
#include "ftl/model/run_layout.h"
#include "ftl/train/run_folder.h"
#include "ftl/util/errors.h"

namespace fs = std::filesystem;

namespace ftl {

nlohmann::json without_run_folder(nlohmann::json config) {
  config["output"].erase("dir");
  if (config["output"].empty()) config.erase("output");
  return config;
}

RunMode starting_mode(const fs::path& run_dir, RunMode mode, spdlog::logger& log) {
  if (mode != RunMode::kResume || fs::exists(last_checkpoint_path(run_dir))) return mode;
  if (!holds_run(run_dir)) {
    throw ConfigError(run_dir.string() + " holds no run to resume", Choice::kResume);
  }
  if (holds_checkpoint_files(run_dir)) {
    throw ConfigError(run_dir.string() + " holds checkpoints but no " + kCheckpointDir + "/" +
                          kLastName + " to resume from",
                      Choice::kResumeNeedsOverwrite);
  }
  log.info("{} stopped before its first save: running it from the start", run_dir.string());
  return RunMode::kOverwrite;
}

namespace {

// A step is batch_size x world_size images: mid-epoch, another world would replay or skip
// some of them. At an epoch end only the global batch changes.
void check_world_size(const TrainState& state, int world_size, std::int64_t batch_size,
                      const fs::path& run_dir, const fs::path& path, spdlog::logger& log) {
  if (state.world_size == world_size) return;
  if (state.steps_done > 0) {
    throw ConfigError(fmt::format(
        "cannot resume {} with a world size of {}: {} was saved at step {} of epoch {} by a "
        "world size of {}; resume with {} processes, or from an epoch-end save",
        run_dir.string(), world_size, path.string(), state.steps_done, state.epochs_done + 1,
        state.world_size, state.world_size));
  }
  log.warn("resuming a run of world size {} with world size {}: the global batch is now {} x {}",
           state.world_size, world_size, batch_size, world_size);
}

}  // namespace

ResumePoint read_resume_point(const fs::path& run_dir, const torch::Device& device, int world_size,
                              const nlohmann::json& checkpoint_config, std::int64_t batch_size,
                              CheckpointRanking& ranking, EarlyStopping& early_stopping,
                              spdlog::logger& log) {
  const fs::path path = last_checkpoint_path(run_dir);
  ResumePoint point{load_checkpoint(path, device, {kTrainStateName, kTrainTensorsName}), {}};
  point.state = decode_train_state(point.last.extra, path.string());
  check_world_size(point.state, world_size, batch_size, run_dir, path, log);
  // A key added to ftl after the run started is read at its default, which is what the run
  // used; without this a run made by an older ftl could not be resumed.
  nlohmann::json recorded;
  try {
    recorded = without_run_folder(config_to_json(config_from_json(point.last.metadata.config)));
  } catch (const ConfigError& error) {
    throw ConfigError(
        "cannot resume " + run_dir.string() + ": " + path.string() +
        " records a setting this ftl does not know (written by a newer ftl?): " + error.what());
  }
  check_resume_config(recorded, checkpoint_config, point.state.epochs_done, run_dir.string());
  try {
    ranking.restore(point.state.ranking);
    early_stopping.restore(point.state.early_stopping);
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(path.string() + ": " + kTrainStateName + ": " + error.what());
  }
  return point;
}

void adopt_run_data(TrainState& state, const RunData& data, const std::string& train_path,
                    std::int64_t steps_per_epoch, const fs::path& last_path) {
  if (!state.train_fingerprint.empty() && state.train_fingerprint != data.train_fingerprint) {
    throw DataError("data.train " + train_path + " is not the training set the run started with (" +
                    std::to_string(data.train.samples.size()) + " images now, " +
                    std::to_string(state.train_samples) +
                    " then, or other files or classes): a resumed run must see the same images");
  }
  state.train_fingerprint = data.train_fingerprint;
  state.train_samples = static_cast<std::int64_t>(data.train.samples.size());
  if (state.steps_done < 0 || state.steps_done >= steps_per_epoch || state.epochs_done < 0) {
    throw ModelError(last_path.string() + ": " + kTrainStateName + ": epoch " +
                     std::to_string(state.epochs_done) + ", step " +
                     std::to_string(state.steps_done) + " is not a point of this run");
  }
}

void restore_optimizer_state(TrainingOptimizer& optimizer, const TrainState& state,
                             const std::string& source) {
  try {
    optimizer.load_state(state.optimizer, state.tensors, source);
    restore_rng_states(state.tensors);
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(source + ": " + kTrainStateName + ": " + error.what());
  } catch (const c10::Error& error) {
    throw ModelError(source + ": " + kTrainTensorsName + ": " + error.what_without_backtrace());
  }
}

}  // namespace ftl
