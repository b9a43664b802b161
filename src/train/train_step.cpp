#include "ftl/train/train_step.h"

#include <cmath>

#include "ftl/train/loss.h"
#include "ftl/train/mixup.h"

namespace ftl {

double gradient_sum(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> sums;
  for (const torch::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) sums.push_back(parameter.grad().sum());
  }
  return sums.empty() ? 0.0 : torch::stack(sums).sum().item<double>();
}

namespace {

// Drops the gradients, as PyTorch's zero_grad(set_to_none=True): backward then writes each
// gradient instead of adding it to zeros that were written first, one pass over the
// gradients less per step (5% of a 32 px ResNet-18 step here), and the same sums.
void clear_gradients(const std::vector<torch::Tensor>& parameters) {
  for (const torch::Tensor& parameter : parameters) {
    parameter.mutable_grad().reset();  // the gradient held by the parameter itself
  }
}

// The forward and backward pass of this process's batch.
StepTotals local_pass(const Forward& forward, const Batch& batch, const StepSettings& settings) {
  StepTotals local;
  torch::Tensor labels = batch.labels.to(settings.device);
  torch::Tensor images = batch.images.to(settings.device);
  torch::Tensor loss;
  torch::Tensor logits;
  if (settings.mixup.enabled()) {
    const MixDraw draw =
        draw_mix(settings.mixup, images.size(2), images.size(3), settings.mix_seed);
    logits = forward(mix_images(images, draw));
    // The head's width is the number of classes.
    const MixedTargets mixed = mix_targets(labels, logits.size(1), settings.label_smoothing, draw);
    loss = soft_target_loss(logits, mixed.targets, settings.class_weights);
    labels = mixed.dominant;  // what training accuracy is measured against
    // With probability targets cross_entropy's mean divides by the images, weighted or not.
    local.weight = static_cast<double>(labels.size(0));
  } else {
    logits = forward(images);
    loss = training_loss(logits, labels, settings.class_weights, settings.label_smoothing);
    // cross_entropy's mean divides by the class weights of the batch's labels, summed.
    local.weight = settings.class_weights.defined()
                       ? settings.class_weights.index_select(0, labels).sum().item<double>()
                       : static_cast<double>(labels.size(0));
  }
  local.loss = loss.item<double>();
  // A non-finite loss is reported after the ranks' collective, so that they all stop alike.
  if (std::isfinite(local.loss)) loss.backward();
  local.count = labels.size(0);
  local.correct = logits.detach().argmax(1).eq(labels).sum().item<std::int64_t>();
  return local;
}

}  // namespace

StepResult train_step(const Forward& forward, TrainingOptimizer& optimizer, const Batch& batch,
                      bool trains, const StepSettings& settings, Ranks& ranks) {
  optimizer.set_lr(settings.lr);
  clear_gradients(optimizer.parameters());
  StepTotals local = trains ? local_pass(forward, batch, settings) : StepTotals{};
  local.signal = settings.stop_signal;
  StepResult result;
  result.totals = ranks.all_reduce_step(optimizer.parameters(), local);
  const StepTotals& total = result.totals;
  if (total.count == 0) return result;
  if (!std::isfinite(total.loss)) {
    result.diverged = Divergence{"training loss", total.loss};
    return result;
  }
  // A finite loss can still give infinite gradients; stepping on them would poison the
  // weights that the next save writes. Without clipping, their plain sum tells as surely
  // (an inf or a NaN anywhere makes it inf or NaN) at half the price of their norm.
  const bool clips = settings.grad_clip_norm > 0;
  const double gradients =
      clips ? torch::nn::utils::clip_grad_norm_(optimizer.parameters(), settings.grad_clip_norm)
            : gradient_sum(optimizer.parameters());
  if (!std::isfinite(gradients)) {
    result.diverged = Divergence{clips ? "gradient norm" : "sum of the gradients", gradients};
    return result;
  }
  optimizer.sgd().step();
  return result;
}

}  // namespace ftl
