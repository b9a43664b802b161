#include "ftl/train/train_step.h"

#include <cmath>

#include "ftl/train/loss.h"
#include "ftl/train/mixup.h"
#include "ftl/util/errors.h"

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

// The forward and backward pass of this process's batch, its loss's gradient x `gradient_scale`.
StepTotals local_pass(const Forward& forward, const Batch& batch, const StepSettings& settings,
                      const std::function<double(double)>& gradient_scale) {
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
  if (std::isfinite(local.loss)) {
    const double scale = gradient_scale(local.weight);
    // The first batch of a step (scale 1) keeps the graph of a step without accumulation.
    (scale == 1.0 ? loss : loss * scale).backward();
  }
  local.count = labels.size(0);
  local.correct = logits.detach().argmax(1).eq(labels).sum().item<std::int64_t>();
  return local;
}

void scale_gradients(const std::vector<torch::Tensor>& parameters, double factor) {
  for (const torch::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) parameter.mutable_grad().mul_(factor);
  }
}

// This process's totals of the accumulated step: its loss is the mean over its batches.
StepTotals local_totals(const Accumulation& accumulation, int stop_signal) {
  StepTotals local;
  local.signal = stop_signal;
  if (accumulation.batches == 0) return local;
  local.weight = accumulation.weight;
  local.loss = accumulation.batches == 1 ? accumulation.first_loss
                                         : accumulation.weighted_loss / accumulation.weight;
  local.correct = accumulation.correct;
  local.count = accumulation.count;
  return local;
}

}  // namespace

StepSettings config_step_settings(const TrainConfig& train, const torch::Tensor& class_weights,
                                  const torch::Device& device) {
  StepSettings settings;
  settings.class_weights = class_weights;
  settings.label_smoothing = train.label_smoothing;
  settings.grad_clip_norm = train.grad_clip_norm;
  settings.mixup = train.mixup;
  settings.device = device;
  return settings;
}

nlohmann::json to_json(const Accumulation& accumulation) {
  return {{"batches", accumulation.batches},
          {"scale", accumulation.scale},
          {"weight", accumulation.weight},
          {"weighted_loss", accumulation.weighted_loss},
          {"first_loss", accumulation.first_loss},
          {"correct", accumulation.correct},
          {"count", accumulation.count}};
}

Accumulation accumulation_from_json(const nlohmann::json& json, const std::string& source) {
  try {
    Accumulation accumulation;
    accumulation.batches = json.at("batches").get<std::int64_t>();
    accumulation.scale = json.at("scale").get<double>();
    accumulation.weight = json.at("weight").get<double>();
    accumulation.weighted_loss = json.at("weighted_loss").get<double>();
    accumulation.first_loss = json.at("first_loss").get<double>();
    accumulation.correct = json.at("correct").get<std::int64_t>();
    accumulation.count = json.at("count").get<std::int64_t>();
    return accumulation;
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(source + ": the resume state's accumulated step is damaged: " + error.what());
  }
}

void accumulate_batch(const Forward& forward, TrainingOptimizer& optimizer, const Batch& batch,
                      const StepSettings& settings, Accumulation& accumulation) {
  // A new step starts from no gradients, whatever ran before it.
  if (accumulation.batches == 0) clear_gradients(optimizer.parameters());
  // Gradients relative to the first batch's weight: sum_k (w_k / w_1) g_k, which finish_step
  // turns into the gradient of the mean over all the step's images, sum_k w_k g_k / sum_k w_k.
  const auto scale = [&accumulation](double weight) {
    if (accumulation.batches == 0) accumulation.scale = weight;
    return weight / accumulation.scale;
  };
  const StepTotals local = local_pass(forward, batch, settings, scale);
  if (accumulation.batches == 0) accumulation.first_loss = local.loss;
  ++accumulation.batches;
  accumulation.weight += local.weight;
  accumulation.weighted_loss += local.loss * local.weight;
  accumulation.correct += local.correct;
  accumulation.count += local.count;
}

StepResult finish_step(TrainingOptimizer& optimizer, Accumulation& accumulation,
                       const StepSettings& settings, Ranks& ranks) {
  optimizer.set_lr(settings.lr);
  if (settings.momentum) optimizer.set_momentum(*settings.momentum);
  const StepTotals local = local_totals(accumulation, settings.stop_signal);
  // A rank without images in this step joins with no gradients, not with the last step's.
  if (accumulation.batches == 0) clear_gradients(optimizer.parameters());
  // The gradients to this process's mean loss gradient, as all_reduce_step expects them.
  if (accumulation.batches > 0 && accumulation.scale != accumulation.weight) {
    scale_gradients(optimizer.parameters(), accumulation.scale / accumulation.weight);
  }
  accumulation = {};
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
  optimizer.optimizer().step();
  return result;
}

StepResult train_step(const Forward& forward, TrainingOptimizer& optimizer, const Batch& batch,
                      bool trains, const StepSettings& settings, Ranks& ranks) {
  Accumulation accumulation;
  if (trains) accumulate_batch(forward, optimizer, batch, settings, accumulation);
  return finish_step(optimizer, accumulation, settings, ranks);
}

}  // namespace ftl
