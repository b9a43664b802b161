// One optimizer step, as a function of the model's forward pass, the optimizer, the batch, the
// step's settings and the ranks: the loss, its gradients (averaged over the ranks), the checks
// that training has not diverged, clipping and the SGD step.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>

#include "ftl/config/config.h"
#include "ftl/data/loader.h"
#include "ftl/dist/ranks.h"
#include "ftl/train/optimizer.h"

namespace ftl {

/// The network's logits in fp32 for a batch of inputs (images, or cached features).
using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

struct StepSettings {
  double lr = 0;                // the scheduled lr of this step (the head's)
  torch::Tensor class_weights;  // undefined: unweighted cross-entropy
  double label_smoothing = 0;   // train.label_smoothing
  double grad_clip_norm = 0;    // train.grad_clip_norm; 0 = off
  MixupConfig mixup;            // train.mixup: off unless an alpha is above 0
  std::uint64_t mix_seed = 0;   // this step's draw of mixup/CutMix (mix_seed())
  torch::Device device = torch::kCPU;
  int stop_signal = 0;  // a stop signal this process has received, for the ranks to agree on
};

/// A value that shows training diverged: what it is and its value.
struct Divergence {
  std::string what;  // "training loss", "gradient norm" or "sum of the gradients"
  double value = 0;
};

struct StepResult {
  StepTotals totals;                   // every rank's images together; count 0: no step taken
  std::optional<Divergence> diverged;  // set: the weights were not stepped
};

/// Trains one step on `batch` when `trains` (a rank without images still joins the ranks'
/// collective with an empty batch and trains = false).
StepResult train_step(const Forward& forward, TrainingOptimizer& optimizer, const Batch& batch,
                      bool trains, const StepSettings& settings, Ranks& ranks);

/// All gradients' elements summed: not finite exactly when one of them is not (short of an
/// overflow of the sum, which only gradients that have diverged reach).
double gradient_sum(const std::vector<torch::Tensor>& parameters);

}  // namespace ftl
