// One optimizer step, as a function of the model's forward pass, the optimizer, the batches, the
// step's settings and the ranks: the loss and its gradients, summed over the step's batches
// (train.accumulate_steps) and averaged over the ranks, the checks that training has not
// diverged, clipping and the optimizer's update.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ftl/config/config.h"
#include "ftl/data/loader.h"
#include "ftl/distributed/ranks.h"
#include "ftl/train/optimizer.h"

namespace ftl {

/// The network's logits in fp32 for a batch of inputs (images, or cached features).
using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

struct StepSettings {
  double lr = 0;                   // the scheduled lr of this step (the head's)
  std::optional<double> momentum;  // the scheduled momentum or beta1 (onecycle); none: as set
  torch::Tensor class_weights;     // undefined: unweighted cross-entropy
  double label_smoothing = 0;      // train.label_smoothing
  double grad_clip_norm = 0;       // train.grad_clip_norm; 0 = off
  MixupConfig mixup;               // train.mixup: off unless an alpha is above 0
  std::uint64_t mix_seed = 0;      // this step's draw of mixup/CutMix (mix_seed())
  torch::Device device = torch::kCPU;
  int stop_signal = 0;  // a stop signal this process has received, for the ranks to agree on
};

/// The settings of a training step that the config fixes (class weights, label smoothing,
/// clipping, mixup) and the device; the caller adds what changes per step: lr, momentum, the
/// mixup draw's seed and the stop signal.
StepSettings config_step_settings(const TrainConfig& train, const torch::Tensor& class_weights,
                                  const torch::Device& device);

/// Whether batch `step` (0-based) of an epoch of `batches` is the last of its optimizer step of
/// `batches_per_step` batches (train.accumulate_steps; the epoch's last step may have fewer).
inline bool closes_optimizer_step(std::int64_t step, std::int64_t batches,
                                  std::int64_t batches_per_step) {
  return (step + 1) % batches_per_step == 0 || step + 1 == batches;
}

/// A value that shows training diverged: what it is and its value.
struct Divergence {
  std::string what;  // "training loss", "gradient norm" or "sum of the gradients"
  double value = 0;
};

struct StepResult {
  StepTotals totals;                   // every rank's images together; count 0: no step taken
  std::optional<Divergence> diverged;  // set: the weights were not stepped
};

/// The batches of an optimizer step taken so far: their gradients wait in the parameters' .grad,
/// as sum_k (weight_k / scale) x (the gradient of batch k's mean loss), and their totals here.
/// Saved in last.pt by a stop between two of them, so that the step resumes where it stopped.
struct Accumulation {
  std::int64_t batches = 0;  // 0: no step in progress
  double scale = 0;          // the first batch's weight, which the gradients are relative to
  double weight = 0;         // the batches' loss denominators summed (images or class weights)
  double weighted_loss = 0;  // sum_k weight_k x mean loss_k
  double first_loss = 0;     // batch 1's mean loss: the step's loss when it has one batch
  std::int64_t correct = 0;
  std::int64_t count = 0;
};

nlohmann::json to_json(const Accumulation& accumulation);
/// Throws ModelError naming `source` when a key is missing.
Accumulation accumulation_from_json(const nlohmann::json& json, const std::string& source);

/// Adds the forward and backward pass of `batch` to the step in progress (the first batch of a
/// step clears the optimizer's gradients), on this process alone: no collective, so the ranks
/// meet once per optimizer step.
void accumulate_batch(const Forward& forward, TrainingOptimizer& optimizer, const Batch& batch,
                      const StepSettings& settings, Accumulation& accumulation);

/// Ends the step in progress: the gradients become those of the mean loss over all its batches
/// (the step on one batch as large as them all, BatchNorm aside), averaged over the ranks;
/// then the checks, clipping and the update. A rank whose accumulation is empty still joins
/// the ranks' collective, with no gradients. `accumulation` is reset.
StepResult finish_step(TrainingOptimizer& optimizer, Accumulation& accumulation,
                       const StepSettings& settings, Ranks& ranks);

/// One step of one batch: accumulate_batch when `trains`, then finish_step (a rank without
/// images still joins the ranks' collective with an empty batch and trains = false).
StepResult train_step(const Forward& forward, TrainingOptimizer& optimizer, const Batch& batch,
                      bool trains, const StepSettings& settings, Ranks& ranks);

/// All gradients' elements summed: not finite exactly when one of them is not (short of an
/// overflow of the sum, which only gradients that have diverged reach).
double gradient_sum(const std::vector<torch::Tensor>& parameters);

}  // namespace ftl
