// One epoch of a run: train (one train_step per batch), validate, record, save.
#include <spdlog/fmt/fmt.h>

#include "finetune_run.h"
#include "ftl/train/mixup.h"

namespace fs = std::filesystem;

namespace ftl::train_detail {

// One epoch: train, validate, record, save. Returns true when the run should stop here.
bool FinetuneRun::run_epoch(std::int64_t epoch) {
  const std::int64_t unfreeze_at = config_.model.unfreeze_at_epoch;
  if (unfreeze_at > 0 && epoch >= unfreeze_at && !model_->frozen().empty()) unfreeze(epoch);
  const auto start = Clock::now();
  timing_.epochs.push_back({});
  EpochTiming& timing = timing_.epochs.back();
  timing.epoch = epoch;
  const double images_per_s = train_epoch(epoch);
  timing.train_seconds = seconds_since(start) - timing.features_seconds;
  model_->set_mode(false);
  std::optional<MetricsAccumulator> validated;
  std::optional<MetricsAccumulator> validated_average;
  if (validates(epoch)) {
    const auto validate_start = Clock::now();
    validated = validate();
    if (average_) {
      AveragedWeightsScope averaged(*average_, model_->module());
      validated_average = validate();
    }
    timing.validate_seconds = seconds_since(validate_start);
  }
  share_bad_images();
  if (cache_ && !cache_logged_) log_cache();  // once filled, after this process's first epoch
  if (state_.partial.count == 0 || (validated && validated->count() == 0)) {
    throw DataError(
        fmt::format("epoch {}: no {} image could be used (data.on_bad_image skip "
                    "left them all out); see {}",
                    epoch, state_.partial.count == 0 ? "training" : "validation",
                    (run_dir_ / kBadImagesName).string()));
  }
  EpochMetrics metrics = epoch_metrics(epoch, validated ? &*validated : nullptr,
                                       validated_average ? &*validated_average : nullptr);
  metrics.seconds = seconds_since(start);
  metrics.images_per_s = images_per_s;
  if ((metrics.validated && !std::isfinite(metrics.val_loss)) ||
      !std::isfinite(metrics.train_loss)) {
    throw TrainingError(fmt::format(
        "epoch {} ended with train loss {} and {}: training diverged; lower "
        "optimizer.lr or set train.grad_clip_norm. The last good checkpoint is kept: {}",
        epoch, metrics.train_loss,
        metrics.validated ? fmt::format("val loss {}", metrics.val_loss)
                          : std::string("no validation (train.val_every)"),
        last_checkpoint_path(run_dir_).string()));
  }
  // An epoch that train.val_every does not score cannot become best.pt or a kept epoch.
  const CheckpointRanking::Update update =
      metrics.validated ? ranking_.add(epoch, metric_value(metrics, config_.train.best_metric))
                        : CheckpointRanking::Update{};
  const bool stop_early = decide_stop(epoch, metrics);
  metrics.stop = state_.stop_reason;
  if (hooks_.on_epoch_end) hooks_.on_epoch_end();
  log_epoch(metrics);
  // The metrics line goes first: a resume keeps as many lines as last.pt has epochs, so a line
  // written by an epoch whose last.pt never landed is dropped, and none can be missing.
  writer_->append_metrics(metrics);
  state_.epochs_done = epoch;
  state_.steps_done = 0;
  state_.partial = {};
  writer_->metadata().epoch = epoch;
  // The checkpoint records the line's figures as written (val_* null where not validated).
  const nlohmann::ordered_json line = to_json(metrics);
  writer_->metadata().metrics = nlohmann::json::object();
  for (const char* key : {"train_loss", "train_acc", "val_loss", "val_acc"}) {
    writer_->metadata().metrics[key] = line.at(key);
  }
  if (average_) {
    for (const char* key : {"val_loss_ema", "val_acc_ema"}) {
      writer_->metadata().metrics[key] = line.at(key);
    }
  }
  const auto save_start = Clock::now();
  save_kept(update, epoch, line);
  timing.save_seconds = seconds_since(save_start);
  if (stop_early) log_.info("{}", state_.stop_message);
  const int signal = ranks_->agree_on_stop(poll_stop());
  if (signal != 0 && epoch < config_.train.epochs && !stop_early) {
    throw_interrupted(signal, fmt::format("after epoch {}", epoch));
  }
  return stop_early;
}

// last.pt, then best.pt and the kept epochs as links to it; or, when they rank the moving
// average of the weights, those files first, each holding the average.
void FinetuneRun::save_kept(const CheckpointRanking::Update& update, std::int64_t epoch,
                            const nlohmann::ordered_json& line) {
  if (!average_ || !is_ema_metric(config_.train.best_metric)) {
    save_last();
    writer_->write_kept(update, epoch, ranking_, log_);
    return;
  }
  {
    const nlohmann::json metrics = {{"train_loss", line.at("train_loss")},
                                    {"train_acc", line.at("train_acc")},
                                    {"val_loss", line.at("val_loss_ema")},
                                    {"val_acc", line.at("val_acc_ema")}};
    const nlohmann::json what = {{"decay", config_.train.ema.decay},
                                 {"warmup", config_.train.ema.warmup},
                                 {"buffers", to_string(config_.train.ema.buffers)},
                                 {"updates", average_->updates()}};
    AveragedWeightsScope averaged(*average_, model_->module());
    writer_->write_kept_average(update, epoch, ranking_, *model_, optimizer_->num_parameters(),
                                metrics, what, log_);
  }
  save_last();
}

// `validated`, `validated_average`: null where train.val_every skipped the validation, and
// the second without train.ema.
EpochMetrics FinetuneRun::epoch_metrics(std::int64_t epoch, const MetricsAccumulator* validated,
                                        const MetricsAccumulator* validated_average) const {
  EpochMetrics metrics;
  metrics.epoch = epoch;
  metrics.train_loss = state_.partial.loss_sum / static_cast<double>(state_.partial.count);
  metrics.train_acc =
      static_cast<double>(state_.partial.correct) / static_cast<double>(state_.partial.count);
  metrics.validated = validated != nullptr;
  if (validated != nullptr) {
    metrics.val_loss = validated->mean_loss();
    metrics.val_acc = validated->accuracy();
  }
  metrics.has_ema = average_ != nullptr;
  if (validated_average != nullptr) {
    metrics.val_loss_ema = validated_average->mean_loss();
    metrics.val_acc_ema = validated_average->accuracy();
  }
  metrics.lr = lr_at(epoch, 0);
  metrics.lr_end = lr_at(epoch, steps_per_epoch() - 1);
  return metrics;
}

// Records in the state whether the run ends with this epoch, and why.
bool FinetuneRun::decide_stop(std::int64_t epoch, const EpochMetrics& metrics) {
  // Early stopping's patience counts the epochs that were validated.
  const bool stop_early =
      metrics.validated &&
      early_stopping_.update(epoch, metric_value(metrics, config_.train.early_stopping.metric));
  if (stop_early) {
    state_.stop_reason = "early_stopping";
    state_.stop_message = early_stopping_.reason() + fmt::format(", after epoch {}", epoch);
  } else if (epoch == config_.train.epochs) {
    state_.stop_reason = "completed";
    state_.stop_message = fmt::format("completed: epoch {} of {}", epoch, config_.train.epochs);
  }
  return stop_early;
}

void FinetuneRun::log_epoch(const EpochMetrics& metrics) {
  const StepTiming timing = ranks_->take_step_timing();
  log_.info("{}", describe_epoch(metrics, config_.train.epochs,
                                 timing.steps > 0
                                     ? 1000 * timing.seconds / static_cast<double>(timing.steps)
                                     : -1.0));
}

// Trains the rest of the epoch (all of it, or what a mid-epoch save left) and returns the
// training images per second of this process's part of it.
double FinetuneRun::train_epoch(std::int64_t epoch) {
  const auto start = Clock::now();
  model_->set_mode(true);
  const bool batchnorm_trains = any_batchnorm_training(model_->module());
  const std::int64_t batches = steps_per_epoch();
  // The epoch's order depends only on (seed, epoch): a resumed epoch skips the batches done.
  // Each rank takes its slice of each global batch; a single process takes all of every batch.
  EpochShard shard =
      shard_rest_of_epoch(epoch_order(data_.train.samples.size(), seed(), epoch), state_.steps_done,
                          config_.data.batch_size, ranks_->rank(), ranks_->world_size());
  ranks_->take_step_timing();  // the epoch's log line reports this epoch's steps alone
  if (!features_->considered()) {
    const auto features_start = Clock::now();
    features_->prepare(
        *model_, varying_inputs(config_), data_, loader_options_, *ranks_,
        [this](const auto& bad, const auto& data) { note_bad_images(bad, data); }, log_);
    timing_.epochs.back().features_seconds = seconds_since(features_start);
  }
  LoaderOptions options = loader_options_;
  options.augment = config_.data.augment;
  options.seed = seed();
  options.epoch = epoch;
  TrainingBatches source(*features_, data_.train.samples, std::move(shard.order), options, device_);
  std::int64_t images = 0;
  for (const std::int64_t step_images : shard.step_images) {
    const std::int64_t step = state_.steps_done;
    Batch batch;  // stays empty where this rank has no image in the last global batch
    const auto wait_start = Clock::now();
    if (step_images > 0 && !source.next(batch)) {
      throw std::logic_error("the loader ended before the epoch's last step");
    }
    timing_.epochs.back().loader_wait_seconds += seconds_since(wait_start);
    note_bad_images(batch.bad, data_.train);
    // Training BatchNorm cannot normalise a single image: a trailing batch of one is skipped,
    // as is a batch whose images were all left out (data.on_bad_image skip). A rank without
    // images still joins the step's all-reduce.
    const std::int64_t size = batch.labels.defined() ? batch.labels.size(0) : 0;
    const bool trains = size > 1 || (size == 1 && !batchnorm_trains);
    if (trains) {
      accumulate_batch([this](const torch::Tensor& input) { return forward(input); }, *optimizer_,
                       batch, step_settings(epoch, step), accumulation_);
    }
    int signal = 0;
    if (!closes_step(step)) {
      // Between the batches of one optimizer step the ranks hold no collective to agree on a
      // stop in, so only a single process stops there (saving the step's gradients so far).
      if (ranks_->world_size() == 1) signal = poll_stop();
    } else if (accumulation_.batches > 0 || ranks_->world_size() > 1) {
      const StepTotals total = finish_optimizer_step(epoch, step);
      images += total.count;
      signal = total.signal;
    } else {
      signal = poll_stop();
    }
    if (!after_step(epoch, step, batches, signal)) break;
  }
  return static_cast<double>(images) / seconds_since(start);
}

// Records a step done: progress, a failed checkpoint write, the periodic or the interrupted
// save. Returns false after the epoch's last step, whose save is the epoch end's.
bool FinetuneRun::after_step(std::int64_t epoch, std::int64_t step, std::int64_t batches,
                             int signal) {
  state_.steps_done = step + 1;
  if (hooks_.on_batch) {
    hooks_.on_batch({epoch, config_.train.epochs, static_cast<std::size_t>(step + 1),
                     static_cast<std::size_t>(batches),
                     state_.partial.loss_sum /
                         static_cast<double>(std::max<std::int64_t>(state_.partial.count, 1))});
  }
  writer_->check();  // a checkpoint that failed to write stops the run now
  if (step + 1 == batches) return false;
  // train.checkpoint_every_steps counts optimizer steps, whose ends all ranks share.
  const std::int64_t every = config_.train.checkpoint_every_steps;
  const SchedulePoint point = schedule_point(epoch, step);
  const std::int64_t global_step = (epoch - 1) * point.steps_per_epoch + point.step + 1;
  if (signal != 0 || (every > 0 && closes_step(step) && global_step % every == 0)) save_last();
  if (signal != 0) {
    throw_interrupted(signal, fmt::format("at epoch {}, step {} of {}", epoch, step + 1, batches));
  }
  return true;
}

// The settings of batch `step`'s part in its optimizer step.
StepSettings FinetuneRun::step_settings(std::int64_t epoch, std::int64_t step) const {
  StepSettings settings = config_step_settings(config_.train, class_weights_, device_);
  settings.lr = lr_at(epoch, step);
  settings.momentum = scheduled_momentum(config_.optimizer.schedule, config_.train.epochs,
                                         schedule_point(epoch, step));
  settings.mix_seed = mix_seed(seed(), epoch, step, ranks_->rank());
  return settings;
}

// The optimizer step that batch `step` closes, with the epoch's totals updated. Returns what it
// trained on: this process's images, or all ranks' together, and the stop signal the ranks
// agreed on.
StepTotals FinetuneRun::finish_optimizer_step(std::int64_t epoch, std::int64_t step) {
  StepSettings settings = step_settings(epoch, step);
  settings.stop_signal = poll_stop();
  const StepResult result = finish_step(*optimizer_, accumulation_, settings, *ranks_);
  if (result.diverged) throw_diverged(*result.diverged, epoch, step, settings.lr);
  if (average_ && result.totals.count > 0) average_->update(model_->module());
  const StepTotals& total = result.totals;
  if (total.count > 0) {
    state_.partial.loss_sum += total.loss * static_cast<double>(total.count);
    state_.partial.correct += total.correct;
    state_.partial.count += total.count;
  }
  return total;
}

// The logits in fp32, under autocast when train.precision is bf16: the network's, or with the
// feature cache the head block's and what follows it, applied to the cached features exactly as
// in the network.
torch::Tensor FinetuneRun::forward(const torch::Tensor& input) {
  AutocastScope autocast(compute_, device_);
  torch::jit::Module& module = model_->module();
  if (!features_->active()) return module.forward({input}).toTensor().to(torch::kFloat32);
  return features_->logits(module, input).to(torch::kFloat32);
}

// Scores this process's share of the validation images; every rank's share, merged.
MetricsAccumulator FinetuneRun::validate() {
  MetricsAccumulator metrics(static_cast<std::int64_t>(data_.val.classes.size()), kDefaultTopK);
  if (!features_->active()) {
    AutocastScope autocast(compute_, device_);
    std::vector<BadImage> bad;
    metrics = evaluate_samples(model_->module(), val_shard_, loader_options_, device_, kDefaultTopK,
                               nullptr, &bad);
    note_bad_images(bad, val_shard_);
  } else {
    torch::NoGradGuard no_grad;
    FeatureBatches batches(
        features_->val(), data_.val.samples,
        shard_positions(data_.val.samples.size(), ranks_->rank(), ranks_->world_size()),
        config_.data.batch_size, device_);
    Batch batch;
    while (batches.next(batch)) {
      if (!batch.indices.empty()) metrics.add(forward(batch.images), batch.labels);
    }
  }
  const torch::Tensor totals = metrics.totals();
  ranks_->all_reduce({totals}, "the validation metrics");
  metrics.set_totals(totals);
  return metrics;
}

void FinetuneRun::save_last() {
  writer_->save_last(*model_, optimizer_->num_parameters(), [this] {
    state_.world_size = ranks_->world_size();
    state_.ranking = ranking_.to_json();
    state_.early_stopping = early_stopping_.to_json();
    state_.phase = model_->phase();
    state_.optimizer = optimizer_->state_json();
    state_.tensors = optimizer_->state_tensors();
    state_.accumulation = nlohmann::json();
    if (accumulation_.batches > 0) {  // a stop between the batches of one optimizer step
      state_.accumulation = to_json(accumulation_);
      state_.tensors.merge(optimizer_->gradient_tensors());
    }
    if (average_) state_.tensors.merge(average_->state_tensors());
    save_rng_states(state_.tensors);
    return encode_train_state(state_);
  });
}

// Logs each image left out for the first time and rewrites bad_images.txt with all of them,
// so the list is whole after every epoch that found a new one.
void FinetuneRun::note_bad_images(const std::vector<BadImage>& bad, const ImageFolder& data) {
  const auto added = bad_images_.add(bad, data);
  for (const auto& [path, reason] : added) log_.warn("skipping a bad image: {}: {}", path, reason);
  if (!added.empty()) writer_->write_bad_images(bad_images_.text());
}

// Rank 0 adds the images the other ranks left out to bad_images.txt.
void FinetuneRun::share_bad_images() {
  bool added = false;
  for (const std::string& received :
       ranks_->all_gather_text(bad_images_.text(), "the bad image lists")) {
    added |= bad_images_.merge(received);
  }
  if (added) writer_->write_bad_images(bad_images_.text());
}

void FinetuneRun::log_cache() {
  cache_logged_ = true;
  const CacheStats stats = cache_->stats();
  log_.info("{}", describe_cache(stats));
  if (stats.refused > 0) {
    log_.warn("memory cache full at data.cache_max_bytes {}: {} images decode every epoch",
              config_.data.cache_max_bytes, stats.refused);
  }
}

void FinetuneRun::throw_diverged(const Divergence& divergence, std::int64_t epoch,
                                 std::int64_t step, double lr) {
  writer_->wait();  // whether a checkpoint exists is told once the queued ones have landed
  const fs::path last = last_checkpoint_path(run_dir_);
  throw TrainingError(
      fmt::format("the {} is {} at epoch {}, step {} of {} (lr {:g}): training diverged; lower "
                  "optimizer.lr or set train.grad_clip_norm. {}",
                  divergence.what, divergence.value, epoch, step + 1, steps_per_epoch(), lr,
                  fs::exists(last) ? "The last good checkpoint is kept: " + last.string()
                                   : std::string("No checkpoint had been saved yet.")));
}

void FinetuneRun::throw_interrupted(int signal, const std::string& where) {
  writer_->wait();
  throw Interrupted(
      signal, run_dir_.string(),
      fmt::format("interrupted by {} {}; the resume state is saved in {}", signal_name(signal),
                  where, last_checkpoint_path(run_dir_).string()));
}

}  // namespace ftl::train_detail
