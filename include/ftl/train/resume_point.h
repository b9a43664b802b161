// Where a resumed run continues: checkpoints/last.pt's weights and resume state, read and
// checked against the config and the data of the run that resumes it.
#pragma once

#include <spdlog/logger.h>
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/model/checkpoint.h"
#include "ftl/model/train_state.h"
#include "ftl/train/early_stopping.h"
#include "ftl/train/optimizer.h"
#include "ftl/train/ranking.h"
#include "ftl/train/run_data.h"
#include "ftl/train/run_folder.h"

namespace ftl {

/// The config as checkpoints record it: without output.dir, so that a moved run still resumes
/// and two runs of one config write the same bytes wherever they run.
nlohmann::json without_run_folder(nlohmann::json config);

/// The mode a run starts in. A resumed run stopped before its first save has no state to
/// restore: it runs from the start (kOverwrite). Throws ConfigError when `run_dir` holds no run,
/// or checkpoints but no last.pt (which are not ours to replace unasked).
RunMode starting_mode(const std::filesystem::path& run_dir, RunMode mode, spdlog::logger& log);

struct ResumePoint {
  Checkpoint last;   // the weights and metadata of last.pt
  TrainState state;  // its resume state
};

/// Reads `run_dir`'s last.pt and checks it against this run: the world size (mid-epoch saves
/// need the same one) and the recorded config (`checkpoint_config` may differ only where the
/// option table allows). Restores `ranking` and `early_stopping` from it. Throws ConfigError
/// or ModelError naming the file.
ResumePoint read_resume_point(const std::filesystem::path& run_dir, const torch::Device& device,
                              int world_size, const nlohmann::json& checkpoint_config,
                              std::int64_t batch_size, CheckpointRanking& ranking,
                              EarlyStopping& early_stopping, spdlog::logger& log);

/// Records the training set in `state`, after checking that a resumed run sees the images it
/// started with and that its saved step is a point of this run. Throws DataError (other images)
/// or ModelError (a step beyond the epoch) naming the file.
void adopt_run_data(TrainState& state, const RunData& data, const std::string& train_path,
                    std::int64_t steps_per_epoch, const std::filesystem::path& last_path);

/// Puts the optimizer's momentum buffers and lrs and torch's random generators back as `state`
/// saved them. Throws ModelError naming `source` and the entry that does not fit.
void restore_optimizer_state(TrainingOptimizer& optimizer, const TrainState& state,
                             const std::string& source);

}  // namespace ftl
