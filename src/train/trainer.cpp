#include "ftl/train/trainer.h"

#include <spdlog/fmt/fmt.h>

#include "finetune_run.h"

namespace fs = std::filesystem;

namespace ftl {
namespace train_detail {

FinetuneResult FinetuneRun::run() {
  std::optional<Checkpoint> last = start();
  const bool finished = state_.stop_reason == "early_stopping" ||
                        (!state_.stop_reason.empty() && state_.epochs_done >= config_.train.epochs);
  if (finished) {
    log_.info("{} has already finished ({}); nothing to do", run_dir_.string(),
              state_.stop_message);
    // A kill after the last epoch's last.pt may have cut its best.pt or summary short.
    writer_->init_metadata(data_.train.classes, loader_options_.preprocess, checkpoint_config_,
                           &*last);
    writer_->repair_kept(ranking_, state_, *last, log_);
    writer_->write_summary(ranking_, state_, bad_images_.size());
    return writer_->result(ranking_, state_, /*resumed=*/true);
  }
  state_.stop_reason.clear();
  state_.stop_message.clear();
  writer_->prepare(mode_, resolved_config_, data_, state_.epochs_done, config_.train.ema.enabled(),
                   log_);
  writer_->init_metadata(data_.train.classes, loader_options_.preprocess, checkpoint_config_,
                         last ? &*last : nullptr);
  if (last) writer_->repair_kept(ranking_, state_, *last, log_);
  setup_optimizer(last);
  timing_.startup_seconds = seconds_since(started_);
  for (std::int64_t epoch = state_.epochs_done + 1; epoch <= config_.train.epochs; ++epoch) {
    if (run_epoch(epoch)) break;
  }
  const auto end = Clock::now();
  writer_->write_summary(ranking_, state_, bad_images_.size());
  timing_.end_seconds = seconds_since(end);
  writer_->write_timing(timing_);
  // The other ranks end once rank 0's files are written: a failure there fails them too.
  ranks_->all_reduce({torch::ones({1})}, "the end of the run");
  return writer_->result(ranking_, state_, last.has_value());
}

// Everything before the first epoch: the ranks, the resume point, the compute settings, the
// data and the model. Returns last.pt when the run resumes.
std::optional<Checkpoint> FinetuneRun::start() {
  resolved_config_ = config_to_json(config_);
  checkpoint_config_ = without_run_folder(resolved_config_);
  ranks_ =
      join_ranks(launch_, config_, device_,
                 checkpoint_config_.dump() + "\n" + std::to_string(static_cast<int>(mode_)), log_);
  writer_ = std::make_unique<RunWriter>(run_dir_, ranks_->root());
  mode_ = starting_mode(run_dir_, mode_, log_);
  std::optional<Checkpoint> last;
  if (mode_ == RunMode::kResume) {
    ResumePoint point =
        read_resume_point(run_dir_, device_, ranks_->world_size(), checkpoint_config_,
                          config_.data.batch_size, ranking_, early_stopping_, log_);
    state_ = std::move(point.state);
    last = std::move(point.last);
    bad_images_.merge(read_text_file(run_dir_ / kBadImagesName));
  } else if (mode_ == RunMode::kNew) {
    check_run_dir_free(run_dir_);
  }
  const TrainingCompute started =
      start_training_compute(config_.train, device_, config_.train.deterministic, seed());
  const std::int64_t threads = started.threads;
  compute_ = started.mode;
  features_ = std::make_unique<FeatureSource>(config_, device_, compute_);
  configure_loading();
  const auto data_start = Clock::now();
  load_data();
  timing_.data_seconds = seconds_since(data_start);
  const auto model_start = Clock::now();
  setup_model(last);
  timing_.model_seconds = seconds_since(model_start);
  log_.info("device {}, {} compute threads, {} loader workers, {}, {}{}", device_.str(), threads,
            loader_options_.workers, to_string(config_.train.precision),
            to_string(config_.train.memory_format),
            config_.train.deterministic ? ", deterministic" : "");
  log_.info("{}", describe_transforms(loader_options_.preprocess, config_.data.augment));
  if (config_.train.mixup.enabled()) log_.info("{}", describe_mixup(config_.train.mixup));
  return last;
}

void FinetuneRun::configure_loading() {
  cache_ = make_run_cache(config_.data);
  loader_options_ = run_loader_options(config_, compute_.channels_last, cache_.get());
}

void FinetuneRun::load_data() {
  data_ = load_run_data(config_.data, seed(), log_);
  adopt_run_data(state_, data_, config_.data.train, steps_per_epoch(),
                 last_checkpoint_path(run_dir_));
  ranks_->check_same_on_every_rank(data_.train_fingerprint + "\n" + dataset_fingerprint(data_.val),
                                   "training or validation images");
  val_shard_ = rank_share(data_.val, ranks_->rank(), ranks_->world_size());
  if (config_.model.unfreeze_at_epoch > config_.train.epochs) {
    log_.warn(
        "model.unfreeze_at_epoch {} is beyond train.epochs {}: the frozen part will not "
        "train in this run",
        config_.model.unfreeze_at_epoch, config_.train.epochs);
  }
  class_weights_ = run_class_weights(config_.train.class_weights, data_, device_, log_);
}

void FinetuneRun::setup_model(const std::optional<Checkpoint>& last) {
  StartingNetwork start = starting_network(config_, data_.train.classes, last ? &*last : nullptr,
                                           state_, device_, log_);
  torch::jit::Module& module = start.module;
  apply_memory_format(module, compute_);
  // Every rank starts from rank 0's weights and BatchNorm statistics.
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& parameter : module.parameters(/*recurse=*/true)) {
    tensors.push_back(parameter);
  }
  for (const torch::Tensor& buffer : module.buffers(/*recurse=*/true)) tensors.push_back(buffer);
  ranks_->broadcast(tensors, "the initial weights");
  model_.emplace(module, std::move(start.head), config_.model);
}

void FinetuneRun::setup_optimizer(const std::optional<Checkpoint>& last) {
  optimizer_ = std::make_unique<TrainingOptimizer>(model_->trainable(), model_->head(), config_,
                                                   layer_depths(model_->module(), model_->head()));
  if (last) {
    if (state_.phase == "full" && !model_->frozen().empty()) unfreeze(state_.epochs_done + 1);
    const std::string source = last_checkpoint_path(run_dir_).string();
    restore_optimizer_state(*optimizer_, state_, source);
    if (!state_.accumulation.is_null()) {
      accumulation_ = accumulation_from_json(state_.accumulation, source);
      optimizer_->restore_gradients(state_.tensors, source);
    }
  }
  if (config_.train.ema.enabled()) {
    average_ = std::make_unique<WeightAverage>(model_->module(), config_.train.ema);
    if (last) average_->load_state(state_.tensors, last_checkpoint_path(run_dir_).string());
    log_.info("{}", describe_ema(config_.train.ema, config_.train.best_metric));
  }
  log_.info("optimizer: {}, parameter groups {}; frozen: {}",
            describe_optimizer(config_.optimizer, config_.train.accumulate_steps,
                               config_.data.batch_size, ranks_->world_size()),
            describe_groups(optimizer_->groups()),
            model_->frozen().empty() ? std::string("nothing") : join(model_->frozen()));
}

void FinetuneRun::unfreeze(std::int64_t epoch) {
  const std::string frozen = join(model_->frozen());
  const std::vector<torch::jit::NameTensor> newly_trainable = model_->unfreeze();
  log_.info("epoch {}: unfreezing {} ({} more tensors train, at lr x {:g})", epoch, frozen,
            newly_trainable.size(), config_.model.backbone_lr_mult);
  if (features_->active()) {
    log_.info("epoch {}: the backbone trains from now on: the feature cache is dropped", epoch);
    features_->drop();
  }
  optimizer_->add(newly_trainable, kUnfrozenGroup);
}

}  // namespace train_detail

FinetuneResult finetune(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks,
                        RunMode mode, const Launch& launch) {
  validate_config(config);
  train_detail::FinetuneRun run(config, log, hooks, mode, launch);
  return run.run();
}

}  // namespace ftl
