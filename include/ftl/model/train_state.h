// The resume state of a run: everything beyond the network's weights that a stopped run needs
// to continue exactly as if it had not stopped. It travels inside checkpoints/last.pt as two
// extra archive entries, so the weights and the state are always replaced together by one
// atomic rename; best.pt and epoch_NNN.pt do not carry it.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace ftl {

/// Archive entries (torch.jit.load's _extra_files) of the state: JSON and pickled tensors.
inline constexpr const char* kTrainStateName = "ftl_train_state.json";
inline constexpr const char* kTrainTensorsName = "ftl_train_state.pt";
/// Bumped when the state changes in a way older readers cannot follow.
inline constexpr int kTrainStateVersion = 1;

/// Training loss and accuracy totals of the epoch in progress.
struct EpochTotals {
  double loss_sum = 0;  // summed per-image loss
  std::int64_t correct = 0;
  std::int64_t count = 0;
};

struct TrainState {
  std::int64_t epochs_done = 0;    // complete epochs
  std::int64_t steps_done = 0;     // batches of the next epoch already trained (mid-epoch saves)
  std::int64_t world_size = 1;     // processes that trained them: a step is batch_size x this
  EpochTotals partial;             // the training totals of those batches
  nlohmann::json ranking;          // CheckpointRanking::to_json
  nlohmann::json early_stopping;   // EarlyStopping::to_json
  std::string stop_reason;         // once the run has ended: "completed" or "early_stopping"
  std::string stop_message;        // the same for people
  std::string phase;               // "frozen" (part of the network frozen) or "full"
  std::int64_t train_samples = 0;  // training images, and a fingerprint of their paths and
  std::string train_fingerprint;   // labels: a resume must see the same training set
  nlohmann::json optimizer;        // TrainingOptimizer::state_json
  nlohmann::json accumulation;     // a stop between the batches of one optimizer step: the
                                   // step's totals (train/train_step.h); null when none
  std::map<std::string, torch::Tensor> tensors;  // optimizer state, the gradients of a step in
                                                 // progress and RNG states, on the CPU
};

/// The two archive entries that carry the state.
torch::jit::ExtraFilesMap encode_train_state(const TrainState& state);

/// Reads the entries back; throws ModelError naming `source` when they are missing or damaged.
TrainState decode_train_state(const torch::jit::ExtraFilesMap& extra, const std::string& source);

/// Adds torch's global random generator states (CPU, and CUDA when present) to `tensors`, and
/// puts them back.
void save_rng_states(std::map<std::string, torch::Tensor>& tensors);
void restore_rng_states(const std::map<std::string, torch::Tensor>& tensors);

/// A resumed run must use the settings it was started with, but for the options that the option
/// table lets change on resume (config.h, OnResume): train.epochs may grow, the feature cache and
/// dist settings may change. Throws ConfigError naming the first key that differs, with both
/// values; tagged Choice::kOverwriteToChange where only a replaced run could change it.
void check_resume_config(const nlohmann::json& run_config, const nlohmann::json& requested,
                         std::int64_t epochs_done, const std::string& run_dir);

}  // namespace ftl
