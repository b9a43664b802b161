#include "ftl/trainer.h"

#include <spdlog/fmt/fmt.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <system_error>

#include "ftl/checkpoint.h"
#include "ftl/compute_mode.h"
#include "ftl/dataset.h"
#include "ftl/device.h"
#include "ftl/early_stopping.h"
#include "ftl/errors.h"
#include "ftl/evaluate.h"
#include "ftl/feature_cache.h"
#include "ftl/files.h"
#include "ftl/image_cache.h"
#include "ftl/loader.h"
#include "ftl/loss.h"
#include "ftl/metrics.h"
#include "ftl/metrics_log.h"
#include "ftl/model.h"
#include "ftl/optimizer.h"
#include "ftl/ranking.h"
#include "ftl/run_folder.h"
#include "ftl/runtime.h"
#include "ftl/schedule.h"
#include "ftl/split.h"
#include "ftl/train_state.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

// The config as checkpoints record it: without output.dir.
nlohmann::json without_run_folder(nlohmann::json config) {
  config["output"].erase("dir");
  if (config["output"].empty()) config.erase("output");
  return config;
}


using Clock = std::chrono::steady_clock;

/// Prefix of the parameter groups that staged unfreezing adds.
constexpr const char* kUnfrozenGroup = "unfrozen";

Preprocess preprocess_from_config(const DataConfig& data) {
  Preprocess preprocess;
  preprocess.image_size = data.image_size;
  preprocess.eval_resize = data.eval_resize;
  preprocess.resize = data.resize;
  preprocess.exif_orientation = data.exif_orientation;
  preprocess.jpeg_dct_scaling = data.jpeg_dct_scaling;
  return preprocess;
}

Augment augment_from_config(const DataConfig& data) {
  Augment augment;
  augment.enabled = data.augment;
  augment.scale = data.crop_scale;
  augment.ratio = data.crop_ratio;
  augment.hflip = data.hflip;
  augment.color_jitter = data.color_jitter;
  return augment;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string signal_name(int signal_number) {
  if (signal_number == SIGINT) return "SIGINT";
  if (signal_number == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal_number);
}

template <typename Range>
std::string join(const Range& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

// The L2 norm of all gradients together, as clip_grad_norm_ computes it.
double total_gradient_norm(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> norms;
  for (const torch::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) norms.push_back(parameter.grad().norm());
  }
  return norms.empty() ? 0.0 : torch::stack(norms).norm().item<double>();
}

double metric_value(const EpochMetrics& metrics, const std::string& name) {
  return name == "val_loss" ? metrics.val_loss : metrics.val_acc;
}

class Trainer {
 public:
  Trainer(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks, RunMode mode)
      : config_(config),
        log_(log),
        hooks_(hooks),
        mode_(mode),
        device_(resolve_device(config.train.device, "train.device")),
        run_dir_(config.output.dir),
        ranking_(config.train.best_metric, config.train.keep_top_k),
        early_stopping_(config.train.early_stopping) {}

  FinetuneResult run();

 private:
  void start_over_unsaved_run();
  std::optional<Checkpoint> read_resume_point();
  void load_data();
  void setup_model(const std::optional<Checkpoint>& last);
  void prepare_run_dir(const std::optional<Checkpoint>& last);
  void init_metadata(const Checkpoint* last);
  void repair_kept_checkpoints(const Checkpoint& last);
  void setup_optimizer(const std::optional<Checkpoint>& last);
  void unfreeze(std::int64_t epoch);
  bool run_epoch(std::int64_t epoch);
  double train_epoch(std::int64_t epoch);
  MetricsAccumulator validate();
  void prepare_features();
  CachedFeatures features_of(const ImageFolder& data, const nlohmann::json& settings);
  torch::Tensor forward(const torch::Tensor& input);
  void take_step(const Batch& batch, std::int64_t epoch, std::int64_t step, double lr);
  [[noreturn]] void throw_diverged(const std::string& what, double value, std::int64_t epoch,
                                   std::int64_t step, double lr);
  void save_last();
  void save_checkpoint_behind(const fs::path& path, const torch::jit::ExtraFilesMap& entries);
  void write_kept(const CheckpointRanking::Update& update, std::int64_t epoch);
  void write_summary();
  void note_bad_images(const std::vector<BadImage>& bad, const ImageFolder& data);
  void read_bad_images();
  nlohmann::ordered_json data_summary() const;
  FinetuneResult result(bool resumed) const;

  double lr_at(std::int64_t epoch, std::int64_t step) const;
  void log_transforms() const;
  void log_cache();
  std::int64_t steps_per_epoch() const;
  std::string phase() const { return frozen_.empty() ? "full" : "frozen"; }
  nlohmann::json training_json() const;
  int poll_stop() const { return hooks_.stop_requested ? hooks_.stop_requested() : 0; }
  fs::path checkpoint_path(const std::string& name) const {
    return run_dir_ / kCheckpointDir / name;
  }
  void set_mode(bool training) { set_training(model_, training, frozen_, config_.model.batchnorm); }

  const Config& config_;
  spdlog::logger& log_;
  const FinetuneHooks& hooks_;
  RunMode mode_;
  const torch::Device device_;
  ComputeMode compute_;
  const fs::path run_dir_;
  nlohmann::json resolved_config_;
  nlohmann::json checkpoint_config_;  // resolved_config_ without output.dir
  ImageFolder train_;
  ImageFolder val_;
  LoaderOptions loader_options_;      // validation's; training adds augmentation per epoch
  Augment augment_;
  std::unique_ptr<ImageCache> cache_;  // data.cache "memory"
  bool cache_logged_ = false;
  torch::Tensor class_weights_;
  torch::jit::Module model_;
  std::set<std::string> initially_frozen_;
  std::set<std::string> frozen_;
  std::unique_ptr<TrainingOptimizer> optimizer_;
  CheckpointRanking ranking_;
  EarlyStopping early_stopping_;
  std::map<std::string, std::string> bad_images_;  // path -> why it was left out
  TrainState state_;
  CheckpointMetadata metadata_;
  std::unique_ptr<MetricsLog> metrics_log_;
  // The feature cache: set while the head trains on cached backbone features.
  std::optional<CachedFeatures> train_features_;
  std::optional<CachedFeatures> val_features_;
  bool features_considered_ = false;  // whether prepare_features() has run
  fs::path feature_cache_dir_;        // train.feature_cache "disk"
  // Checkpoint files reach the disk on this writer's thread while training goes on. Last, so
  // that it is destroyed first: it finishes its jobs before anything else goes away.
  BackgroundWriter writer_;
};

FinetuneResult Trainer::run() {
  resolved_config_ = config_to_json(config_);
  // Checkpoints record the settings but not where the run folder is: a moved run still
  // resumes, and two runs of one config write the same bytes wherever they run.
  checkpoint_config_ = without_run_folder(resolved_config_);
  std::optional<Checkpoint> last;
  if (mode_ == RunMode::kResume && !fs::exists(last_checkpoint_path(run_dir_))) {
    start_over_unsaved_run();
  }
  if (mode_ == RunMode::kResume) {
    last = read_resume_point();
  } else if (mode_ == RunMode::kNew) {
    check_run_dir_free(run_dir_);
  }
  configure_determinism(config_.train.deterministic);
  torch::manual_seed(static_cast<std::uint64_t>(config_.train.seed));
  const std::int64_t threads = configure_compute_threads(config_.train.threads);
  compute_ = resolve_compute_mode(config_.train.precision, config_.train.memory_format, device_,
                                  cpu_has_bf16());
  if (config_.train.feature_cache == "disk") {
    feature_cache_dir_ = config_.train.feature_cache_dir.empty()
                             ? default_feature_cache_dir()
                             : fs::path(config_.train.feature_cache_dir);
  }
  loader_options_.workers = resolve_loader_workers(config_.data.workers);
  loader_options_.batch_size = config_.data.batch_size;
  loader_options_.prefetch = config_.data.prefetch;
  loader_options_.preprocess = preprocess_from_config(config_.data);
  loader_options_.skip_bad_images = config_.data.on_bad_image == "skip";
  loader_options_.channels_last = compute_.channels_last;
  augment_ = augment_from_config(config_.data);
  if (config_.data.cache == "memory") {
    cache_ = std::make_unique<ImageCache>(static_cast<std::uint64_t>(config_.data.cache_max_bytes));
    loader_options_.cache = cache_.get();
  }
  load_data();
  setup_model(last);
  log_.info("device {}, {} compute threads, {} loader workers, {}, {}{}", device_.str(), threads,
            loader_options_.workers, config_.train.precision, config_.train.memory_format,
            config_.train.deterministic ? ", deterministic" : "");
  log_transforms();

  const bool finished = state_.stop_reason == "early_stopping" ||
                        (!state_.stop_reason.empty() && state_.epochs_done >= config_.train.epochs);
  if (finished) {
    log_.info("{} has already finished ({}); nothing to do", run_dir_.string(),
              state_.stop_message);
    // A kill after the last epoch's last.pt may have cut its best.pt or summary short.
    init_metadata(&*last);
    repair_kept_checkpoints(*last);
    write_summary();
    return result(/*resumed=*/true);
  }
  state_.stop_reason.clear();
  state_.stop_message.clear();
  prepare_run_dir(last);
  setup_optimizer(last);
  for (std::int64_t epoch = state_.epochs_done + 1; epoch <= config_.train.epochs; ++epoch) {
    if (run_epoch(epoch)) break;
  }
  write_summary();
  return result(last.has_value());
}

// A run stopped before its first save has no state to restore: resuming it is running it
// from the start. A folder with other checkpoints but no last.pt is not ours to replace.
void Trainer::start_over_unsaved_run() {
  if (!holds_run(run_dir_)) {
    throw ConfigError("--resume: " + run_dir_.string() + " holds no run to resume");
  }
  if (holds_checkpoint_files(run_dir_)) {
    throw ConfigError("--resume: " + run_dir_.string() + " holds checkpoints but no " +
                      kCheckpointDir + "/" + kLastName + " to resume from; pass --overwrite to " +
                      "replace them");
  }
  log_.info("{} stopped before its first save: running it from the start", run_dir_.string());
  mode_ = RunMode::kOverwrite;
}

std::optional<Checkpoint> Trainer::read_resume_point() {
  const fs::path path = last_checkpoint_path(run_dir_);
  Checkpoint last = load_checkpoint(path, device_, {kTrainStateName, kTrainTensorsName});
  state_ = decode_train_state(last.extra, path.string());
  read_bad_images();
  // A key added to ftl after the run started is read at its default, which is what the run
  // used; without this a run made by an older ftl could not be resumed.
  nlohmann::json recorded;
  try {
    recorded = without_run_folder(config_to_json(config_from_json(last.metadata.config)));
  } catch (const ConfigError& error) {
    throw ConfigError("cannot resume " + run_dir_.string() + ": " + path.string() +
                      " records a setting this ftl does not know (written by a newer ftl?): " +
                      error.what());
  }
  check_resume_config(recorded, checkpoint_config_, state_.epochs_done, run_dir_.string());
  try {
    ranking_.restore(state_.ranking);
    early_stopping_.restore(state_.early_stopping);
  } catch (const nlohmann::json::exception& error) {
    throw ModelError(path.string() + ": " + kTrainStateName + ": " + error.what());
  }
  return last;
}

void Trainer::load_data() {
  if (config_.data.val_fraction > 0) {
    Split split = split_dataset(scan_dataset(config_.data.train), config_.data.val_fraction,
                                static_cast<std::uint64_t>(config_.train.seed));
    train_ = std::move(split.train);
    val_ = std::move(split.val);
    if (val_.samples.empty()) {
      throw DataError(fmt::format("data.val_fraction {:g}", config_.data.val_fraction) +
                      " holds out no image of " + config_.data.train +
                      ": every class has a single image; give data.val instead");
    }
    log_.info("data.val_fraction {}: {} images held out of {} for validation",
              config_.data.val_fraction, val_.samples.size(),
              train_.samples.size() + val_.samples.size());
  } else {
    train_ = scan_dataset(config_.data.train);
    val_ = scan_dataset(config_.data.val);
  }
  check_same_classes(train_, val_);
  if (train_.samples.size() < 2) {
    throw DataError(train_.root.string() + ": at least 2 training images are needed");
  }
  const std::vector<std::int64_t> counts = class_counts(train_);
  std::vector<std::string> described;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    described.push_back(train_.classes[c] + "=" + std::to_string(counts[c]));
  }
  log_.info("train: {} images in {} classes ({}); largest / smallest class {:.2f}",
            train_.samples.size(), train_.classes.size(), join(described),
            imbalance_ratio(counts));
  log_.info("val: {} images", val_.samples.size());
  for (const ImageFolder* data : {&train_, &val_}) {
    if (data->skipped_files > 0) {
      log_.info("{}: {} hidden or non-image files left out", data->root.string(),
                data->skipped_files);
    }
  }
  const std::string fingerprint = dataset_fingerprint(train_);
  if (!state_.train_fingerprint.empty() && state_.train_fingerprint != fingerprint) {
    throw DataError("data.train " + config_.data.train +
                    " is not the training set the run started with (" +
                    std::to_string(train_.samples.size()) + " images now, " +
                    std::to_string(state_.train_samples) +
                    " then, or other files or classes): a resumed run must see the same images");
  }
  state_.train_fingerprint = fingerprint;
  state_.train_samples = static_cast<std::int64_t>(train_.samples.size());
  if (state_.steps_done < 0 || state_.steps_done >= steps_per_epoch() || state_.epochs_done < 0) {
    throw ModelError(last_checkpoint_path(run_dir_).string() + ": " + kTrainStateName + ": epoch " +
                     std::to_string(state_.epochs_done) + ", step " +
                     std::to_string(state_.steps_done) + " is not a point of this run");
  }
  if (config_.model.unfreeze_at_epoch > config_.train.epochs) {
    log_.warn(
        "model.unfreeze_at_epoch {} is beyond train.epochs {}: the frozen part will not "
        "train in this run",
        config_.model.unfreeze_at_epoch, config_.train.epochs);
  }
  class_weights_ = class_weights(config_.train.class_weights, train_.classes, counts);
  if (class_weights_.defined()) {
    std::vector<std::string> weights;
    for (std::size_t c = 0; c < counts.size(); ++c) {
      weights.push_back(fmt::format("{}={:.4g}", train_.classes[c],
                                    class_weights_[static_cast<std::int64_t>(c)].item<double>()));
    }
    log_.info("class weights: {}", join(weights));
    class_weights_ = class_weights_.to(device_);
  }
}

void Trainer::setup_model(const std::optional<Checkpoint>& last) {
  if (last) {
    if (last->metadata.classes != train_.classes) {
      throw DataError(config_.data.train + ": classes (" + join(train_.classes) +
                      ") differ from those of the run being resumed (" +
                      join(last->metadata.classes) + ")");
    }
    model_ = last->module;
    log_.info("resuming {} after epoch {}{}", run_dir_.string(), state_.epochs_done,
              state_.steps_done > 0 ? fmt::format(" and {} steps of epoch {}", state_.steps_done,
                                                  state_.epochs_done + 1)
                                    : "");
  } else {
    LoadedModel loaded = load_model(config_.model.path, device_);
    if (loaded.traced) {
      log_.warn(
          "{} was made by torch.jit.trace: its BatchNorm layers keep the mode they were "
          "traced in and will not train as expected; export with torch.jit.script",
          config_.model.path);
    }
    model_ = loaded.module;
    log_.info("model: {} (fc {} -> {} classes)", config_.model.path, head_out_features(model_),
              train_.classes.size());
    replace_head(model_, static_cast<std::int64_t>(train_.classes.size()),
                 static_cast<std::uint64_t>(config_.train.seed));
  }
  apply_memory_format(model_, compute_);
  initially_frozen_ = frozen_modules(model_, config_.model.freeze);
  frozen_ = initially_frozen_;
}

// What the run trains and validates on, for reports: paths, image and class counts.
nlohmann::ordered_json Trainer::data_summary() const {
  nlohmann::ordered_json summary;
  for (const ImageFolder* data : {&train_, &val_}) {
    const std::vector<std::int64_t> counts = class_counts(*data);
    nlohmann::ordered_json classes;
    for (std::size_t c = 0; c < counts.size(); ++c) classes[data->classes[c]] = counts[c];
    // A split's parts live in the run folder's manifests, not in data.train.
    const bool split = config_.data.val_fraction > 0;
    const fs::path path =
        !split ? data->root : run_dir_ / (data == &train_ ? kTrainSplitName : kValSplitName);
    summary[data == &train_ ? "train" : "val"] = {{"path", path.string()},
                                                  {"images", data->samples.size()},
                                                  {"classes", classes}};
  }
  return summary;
}

void Trainer::prepare_run_dir(const std::optional<Checkpoint>& last) {
  if (mode_ == RunMode::kOverwrite && holds_run(run_dir_)) {
    log_.warn("--overwrite: replacing the run in {}", run_dir_.string());
    remove_run_outputs(run_dir_);
  }
  create_run_dir(run_dir_);
  remove_stale_temporaries(run_dir_);
  remove_stale_temporaries(run_dir_ / kCheckpointDir);
  write_file_atomic(run_dir_ / kConfigName, resolved_config_.dump(2) + "\n");
  write_file_atomic(run_dir_ / kDataName,
                    data_summary().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                        "\n");
  if (config_.data.val_fraction > 0) {
    write_manifest(train_, run_dir_ / kTrainSplitName);
    write_manifest(val_, run_dir_ / kValSplitName);
  }
  metrics_log_ = std::make_unique<MetricsLog>(run_dir_, state_.epochs_done);

  init_metadata(last ? &*last : nullptr);
  if (last) repair_kept_checkpoints(*last);
}

// What every checkpoint of this run records; a resumed run starts from last.pt's epoch.
void Trainer::init_metadata(const Checkpoint* last) {
  metadata_.classes = train_.classes;
  metadata_.preprocess = loader_options_.preprocess;
  metadata_.config = checkpoint_config_;
  if (last == nullptr) return;
  metadata_.epoch = last->metadata.epoch;
  metadata_.metrics = last->metadata.metrics;
  metadata_.training = last->metadata.training;
}

// A run killed after saving last.pt at an epoch end, but before writing best.pt or that
// epoch's epoch_NNN.pt, is completed here from last.pt, which holds that very epoch's weights.
// Kept files that the ranking has since dropped are removed.
void Trainer::repair_kept_checkpoints(const Checkpoint& last) {
  std::set<std::string> kept;
  for (const RankedEpoch& entry : ranking_.kept()) kept.insert(epoch_checkpoint_name(entry.epoch));
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(run_dir_ / kCheckpointDir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("epoch_", 0) == 0 && kept.count(name) == 0) fs::remove(entry.path(), error);
  }
  const std::int64_t epoch = state_.epochs_done;
  if (state_.steps_done != 0 || epoch == 0 || last.metadata.epoch != epoch) return;
  CheckpointRanking::Update update;
  update.new_best = ranking_.has_best() && ranking_.best().epoch == epoch;
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
  write_kept(update, epoch);
}

void Trainer::setup_optimizer(const std::optional<Checkpoint>& last) {
  optimizer_ = std::make_unique<TrainingOptimizer>(configure_trainable(model_, frozen_), config_);
  if (last) {
    if (state_.phase == "full" && !frozen_.empty()) unfreeze(state_.epochs_done + 1);
    const std::string source = last_checkpoint_path(run_dir_).string();
    try {
      optimizer_->load_state(state_.optimizer, state_.tensors, source);
      restore_rng_states(state_.tensors);
    } catch (const nlohmann::json::exception& error) {
      throw ModelError(source + ": " + kTrainStateName + ": " + error.what());
    } catch (const c10::Error& error) {
      throw ModelError(source + ": " + kTrainTensorsName + ": " + error.what_without_backtrace());
    }
  }
  std::vector<std::string> groups;
  for (const ParamGroup& group : optimizer_->groups()) {
    groups.push_back(fmt::format("{} ({} tensors, lr x {:g})", group.name, group.parameters.size(),
                                 group.lr_mult));
  }
  log_.info("optimizer: SGD, parameter groups {}; frozen: {}", join(groups),
            frozen_.empty() ? std::string("nothing") : join(frozen_));
}

void Trainer::unfreeze(std::int64_t epoch) {
  std::vector<torch::jit::NameTensor> newly_trainable;
  for (const torch::jit::NameTensor& parameter : model_.named_parameters(/*recurse=*/true)) {
    if (!parameter.value.requires_grad()) newly_trainable.push_back(parameter);
  }
  log_.info("epoch {}: unfreezing {} ({} more tensors train, at lr x {:g})", epoch, join(frozen_),
            newly_trainable.size(), config_.model.backbone_lr_mult);
  frozen_.clear();
  configure_trainable(model_, frozen_);
  if (train_features_) {
    log_.info("epoch {}: the backbone trains from now on: the feature cache is dropped", epoch);
    train_features_.reset();
    val_features_.reset();
  }
  optimizer_->add(newly_trainable, kUnfrozenGroup);
}

void Trainer::log_transforms() const {
  const Preprocess& preprocess = loader_options_.preprocess;
  const std::string input =
      preprocess.eval_resize == kStretch
          ? fmt::format("stretched to {0}x{0}", preprocess.image_size)
          : fmt::format("shorter side to {0}, centre {1}x{1}", shorter_side(preprocess),
                        preprocess.image_size);
  std::string training = "as validation";
  if (augment_.enabled) {
    training = fmt::format("random-resized crop (scale {:g}-{:g}, ratio {:.3g}-{:.3g}){}{}",
                           augment_.scale[0], augment_.scale[1], augment_.ratio[0],
                           augment_.ratio[1], augment_.hflip ? ", flip" : "",
                           augment_.color_jitter > 0
                               ? fmt::format(", colour jitter {:g}", augment_.color_jitter)
                               : "");
  }
  log_.info("images: {}; training: {}{}{}", input, training,
            preprocess.exif_orientation ? "; EXIF orientation applied" : "",
            preprocess.jpeg_dct_scaling ? "; large JPEGs decoded at reduced DCT scale" : "");
}

void Trainer::log_cache() {
  cache_logged_ = true;
  const CacheStats stats = cache_->stats();
  constexpr double kMiB = 1024.0 * 1024.0;
  log_.info("memory cache: {} images, {:.1f} MiB", stats.images,
            static_cast<double>(stats.bytes) / kMiB);
  if (stats.refused > 0) {
    log_.warn("memory cache full at data.cache_max_bytes {}: {} images decode every epoch",
              config_.data.cache_max_bytes, stats.refused);
  }
}

std::int64_t Trainer::steps_per_epoch() const {
  const auto samples = static_cast<std::int64_t>(train_.samples.size());
  return (samples + config_.data.batch_size - 1) / config_.data.batch_size;
}

double Trainer::lr_at(std::int64_t epoch, std::int64_t step) const {
  return scheduled_lr(config_.optimizer.schedule, config_.optimizer.lr, config_.train.epochs,
                      {epoch - 1, step, steps_per_epoch()});
}

nlohmann::json Trainer::training_json() const {
  return {{"phase", phase()},
          {"frozen_modules", frozen_},
          {"batchnorm", config_.model.batchnorm},
          {"trainable_tensors", optimizer_ ? optimizer_->num_parameters() : 0}};
}

// One epoch: train, validate, record, save. Returns true when the run should stop here.
bool Trainer::run_epoch(std::int64_t epoch) {
  const std::int64_t unfreeze_at = config_.model.unfreeze_at_epoch;
  if (unfreeze_at > 0 && epoch >= unfreeze_at && !frozen_.empty()) unfreeze(epoch);
  const auto start = Clock::now();
  const double images_per_s = train_epoch(epoch);
  set_mode(false);
  const MetricsAccumulator validated = validate();
  if (cache_ && !cache_logged_) log_cache();  // once filled, after this process's first epoch
  if (state_.partial.count == 0 || validated.count() == 0) {
    throw DataError(fmt::format("epoch {}: no {} image could be used (data.on_bad_image skip "
                                "left them all out); see {}",
                                epoch, state_.partial.count == 0 ? "training" : "validation",
                                (run_dir_ / kBadImagesName).string()));
  }

  EpochMetrics metrics;
  metrics.epoch = epoch;
  metrics.train_loss = state_.partial.loss_sum / static_cast<double>(state_.partial.count);
  metrics.train_acc =
      static_cast<double>(state_.partial.correct) / static_cast<double>(state_.partial.count);
  metrics.val_loss = validated.mean_loss();
  metrics.val_acc = validated.accuracy();
  metrics.lr = lr_at(epoch, 0);
  metrics.lr_end = lr_at(epoch, steps_per_epoch() - 1);
  metrics.seconds = seconds_since(start);
  metrics.images_per_s = images_per_s;
  if (!std::isfinite(metrics.val_loss) || !std::isfinite(metrics.train_loss)) {
    throw TrainingError(fmt::format(
        "epoch {} ended with train loss {} and val loss {}: training diverged; lower "
        "optimizer.lr or set train.grad_clip_norm. The last good checkpoint is kept: {}",
        epoch, metrics.train_loss, metrics.val_loss, last_checkpoint_path(run_dir_).string()));
  }

  const CheckpointRanking::Update update =
      ranking_.add(epoch, metric_value(metrics, config_.train.best_metric));
  const bool stop_early =
      early_stopping_.update(epoch, metric_value(metrics, config_.train.early_stopping.metric));
  if (stop_early) {
    state_.stop_reason = "early_stopping";
    state_.stop_message = early_stopping_.reason() + fmt::format(", after epoch {}", epoch);
  } else if (epoch == config_.train.epochs) {
    state_.stop_reason = "completed";
    state_.stop_message = fmt::format("completed: epoch {} of {}", epoch, config_.train.epochs);
  }
  metrics.stop = state_.stop_reason;

  if (hooks_.on_epoch_end) hooks_.on_epoch_end();
  log_.info(
      "epoch {}/{}: train loss {:.4f} acc {:.4f} | val loss {:.4f} acc {:.4f} | lr {:.4g}{} | "
      "{:.1f}s, {:.0f} img/s",
      epoch, config_.train.epochs, metrics.train_loss, metrics.train_acc, metrics.val_loss,
      metrics.val_acc, metrics.lr,
      metrics.lr_end != metrics.lr ? fmt::format("->{:.4g}", metrics.lr_end) : "", metrics.seconds,
      metrics.images_per_s);
  // The metrics line goes first: a resume keeps as many lines as last.pt has epochs, so a line
  // written by an epoch whose last.pt never landed is dropped, and none can be missing.
  metrics_log_->append(metrics);

  state_.epochs_done = epoch;
  state_.steps_done = 0;
  state_.partial = {};
  metadata_.epoch = epoch;
  metadata_.metrics = {{"train_loss", metrics.train_loss},
                       {"train_acc", metrics.train_acc},
                       {"val_loss", metrics.val_loss},
                       {"val_acc", metrics.val_acc}};
  save_last();
  write_kept(update, epoch);
  if (stop_early) log_.info("{}", state_.stop_message);
  if (const int signal = poll_stop(); signal != 0 && epoch < config_.train.epochs && !stop_early) {
    writer_.wait();
    throw Interrupted(
        signal, run_dir_.string(),
        fmt::format("interrupted by {} after epoch {}; the resume state is saved "
                    "in {}",
                    signal_name(signal), epoch, last_checkpoint_path(run_dir_).string()));
  }
  return stop_early;
}

// Trains the rest of the epoch (all of it, or what a mid-epoch save left) and returns the
// training images per second of this process's part of it.
double Trainer::train_epoch(std::int64_t epoch) {
  const auto start = Clock::now();
  set_mode(true);
  const bool batchnorm_trains = any_batchnorm_training(model_);
  const std::int64_t batches = steps_per_epoch();
  // The epoch's order depends only on (seed, epoch): a resumed epoch skips the batches done.
  std::vector<std::size_t> order =
      epoch_order(train_.samples.size(), static_cast<std::uint64_t>(config_.train.seed), epoch);
  const auto done = static_cast<std::size_t>(state_.steps_done * config_.data.batch_size);
  order.erase(order.begin(),
              order.begin() + static_cast<std::ptrdiff_t>(std::min(done, order.size())));
  if (!features_considered_) prepare_features();
  LoaderOptions options = loader_options_;
  options.augment = augment_;
  options.seed = static_cast<std::uint64_t>(config_.train.seed);
  options.epoch = epoch;
  // Batches of images, or of cached backbone features in the same order and chunks.
  std::optional<BatchLoader> loader;
  std::optional<FeatureBatches> features;
  if (train_features_) {
    features.emplace(*train_features_, train_.samples, std::move(order), config_.data.batch_size,
                     device_);
  } else {
    loader.emplace(train_.samples, std::move(order), options);
  }
  auto next = [&](Batch& batch) { return features ? features->next(batch) : loader->next(batch); };

  std::int64_t images = 0;
  Batch batch;
  for (std::int64_t step = state_.steps_done; next(batch); ++step) {
    note_bad_images(batch.bad, train_);
    // Training BatchNorm cannot normalise a single image: a trailing batch of one is skipped,
    // as is a batch whose images were all left out (data.on_bad_image skip).
    const std::int64_t size = batch.labels.size(0);
    if (size > 1 || (size == 1 && !batchnorm_trains)) {
      take_step(batch, epoch, step, lr_at(epoch, step));
      images += batch.labels.size(0);
    }
    state_.steps_done = step + 1;
    if (hooks_.on_batch) {
      hooks_.on_batch({epoch, config_.train.epochs, static_cast<std::size_t>(step + 1),
                       static_cast<std::size_t>(batches),
                       state_.partial.loss_sum /
                           static_cast<double>(std::max<std::int64_t>(state_.partial.count, 1))});
    }
    writer_.check();                 // a checkpoint that failed to write stops the run now
    if (step + 1 == batches) break;  // the epoch end saves
    const int signal = poll_stop();
    const std::int64_t every = config_.train.checkpoint_every_steps;
    const std::int64_t global_step = (epoch - 1) * batches + step + 1;
    if (signal != 0 || (every > 0 && global_step % every == 0)) save_last();
    if (signal != 0) {
      writer_.wait();
      throw Interrupted(signal, run_dir_.string(),
                        fmt::format("interrupted by {} at epoch {}, step {} of {}; the resume "
                                    "state is saved in {}",
                                    signal_name(signal), epoch, step + 1, batches,
                                    last_checkpoint_path(run_dir_).string()));
    }
  }
  return static_cast<double>(images) / seconds_since(start);
}

// Logs each image left out for the first time and rewrites bad_images.txt (a line per image:
// path, a tab, the reason) with all of them, so the list is whole after every epoch that found
// a new one.
void Trainer::note_bad_images(const std::vector<BadImage>& bad, const ImageFolder& data) {
  bool added = false;
  for (const BadImage& image : bad) {
    const std::string path = data.samples[image.index].path.string();
    if (!bad_images_.emplace(path, image.reason).second) continue;
    log_.warn("skipping a bad image: {}: {}", path, image.reason);
    added = true;
  }
  if (!added) return;
  std::string text;
  for (const auto& [path, reason] : bad_images_) text += path + "\t" + reason + "\n";
  write_file_atomic(run_dir_ / kBadImagesName, text);
}

// A resumed run starts from the images its earlier part left out.
void Trainer::read_bad_images() {
  std::ifstream in(run_dir_ / kBadImagesName);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t tab = line.find('\t');
    if (tab != std::string::npos) bad_images_.emplace(line.substr(0, tab), line.substr(tab + 1));
  }
}

void Trainer::throw_diverged(const std::string& what, double value, std::int64_t epoch,
                             std::int64_t step, double lr) {
  writer_.wait();  // whether a checkpoint exists is told once the queued ones have landed
  const fs::path last = last_checkpoint_path(run_dir_);
  throw TrainingError(
      fmt::format("the {} is {} at epoch {}, step {} of {} (lr {:g}): training diverged; lower "
                  "optimizer.lr or set train.grad_clip_norm. {}",
                  what, value, epoch, step + 1, steps_per_epoch(), lr,
                  fs::exists(last) ? "The last good checkpoint is kept: " + last.string()
                                   : std::string("No checkpoint had been saved yet.")));
}

void Trainer::take_step(const Batch& batch, std::int64_t epoch, std::int64_t step, double lr) {
  optimizer_->set_lr(lr);
  const torch::Tensor labels = batch.labels.to(device_);
  const torch::Tensor logits = forward(batch.images.to(device_));
  const torch::Tensor loss =
      training_loss(logits, labels, class_weights_, config_.train.label_smoothing);
  const double value = loss.item<double>();
  if (!std::isfinite(value)) throw_diverged("training loss", value, epoch, step, lr);
  optimizer_->sgd().zero_grad();
  loss.backward();
  // A finite loss can still give infinite gradients; stepping on them would poison the
  // weights that the next save writes.
  const double gradient_norm = config_.train.grad_clip_norm > 0
                                   ? torch::nn::utils::clip_grad_norm_(optimizer_->parameters(),
                                                                       config_.train.grad_clip_norm)
                                   : total_gradient_norm(optimizer_->parameters());
  if (!std::isfinite(gradient_norm)) {
    throw_diverged("gradient norm", gradient_norm, epoch, step, lr);
  }
  optimizer_->sgd().step();
  const std::int64_t count = labels.size(0);
  state_.partial.loss_sum += value * static_cast<double>(count);
  state_.partial.correct += logits.detach().argmax(1).eq(labels).sum().item<std::int64_t>();
  state_.partial.count += count;
}

// The logits in fp32, under autocast when train.precision is bf16: the network's, or with the
// feature cache the head's alone, fc applied to the cached features exactly as in the network.
torch::Tensor Trainer::forward(const torch::Tensor& input) {
  AutocastScope autocast(compute_, device_);
  if (!train_features_) return model_.forward({input}).toTensor().to(torch::kFloat32);
  torch::jit::Module head = model_.attr(kHeadName).toModule();
  return torch::linear(input, head.attr("weight").toTensor(), head.attr("bias").toTensor())
      .to(torch::kFloat32);
}

MetricsAccumulator Trainer::validate() {
  if (!val_features_) {
    AutocastScope autocast(compute_, device_);
    std::vector<BadImage> bad;
    MetricsAccumulator metrics =
        evaluate_samples(model_, val_, loader_options_, device_, kDefaultTopK, nullptr, &bad);
    note_bad_images(bad, val_);
    return metrics;
  }
  torch::NoGradGuard no_grad;
  MetricsAccumulator metrics(static_cast<std::int64_t>(val_.classes.size()), kDefaultTopK);
  FeatureBatches batches(*val_features_, val_.samples, identity_order(val_.samples.size()),
                         config_.data.batch_size, device_);
  Batch batch;
  while (batches.next(batch)) {
    if (!batch.indices.empty()) metrics.add(forward(batch.images), batch.labels);
  }
  return metrics;
}

// Decides once, at the first epoch this process trains, whether the head trains on cached
// backbone features, and computes (or reads) them for the training and validation images.
void Trainer::prepare_features() {
  features_considered_ = true;
  if (config_.train.feature_cache == "off") return;
  const std::string obstacle = feature_cache_obstacle(model_, augment_.enabled);
  if (!obstacle.empty()) {
    // Worth a line only when something is frozen or the cache was asked for by name.
    if (config_.train.feature_cache == "disk") {
      log_.warn("train.feature_cache \"disk\" is not used: {}", obstacle);
    } else if (!frozen_.empty()) {
      log_.info("feature cache not used: {}", obstacle);
    }
    return;
  }
  const auto start = Clock::now();
  const nlohmann::json settings = {
      {"backbone", config_.train.feature_cache == "disk" ? backbone_fingerprint(model_) : ""},
      {"preprocess", preprocess_to_json(loader_options_.preprocess)},
      {"precision", config_.train.precision},
      {"memory_format", config_.train.memory_format},
      {"device", device_.is_cuda() ? "cuda" : "cpu"}};
  train_features_ = features_of(train_, settings);
  val_features_ = features_of(val_, settings);
  note_bad_images(train_features_->bad, train_);
  note_bad_images(val_features_->bad, val_);
  log_.info("feature cache: the backbone's {}-d features of {} training and {} validation images "
            "ready in {:.1f}s; the head trains on them",
            train_features_->features.size(1), train_.samples.size(), val_.samples.size(),
            seconds_since(start));
}

CachedFeatures Trainer::features_of(const ImageFolder& data, const nlohmann::json& settings) {
  if (config_.train.feature_cache != "disk") {
    return extract_features(model_, data, loader_options_, device_, compute_);
  }
  const std::string key = feature_cache_key(data, settings);
  const fs::path file = feature_cache_dir_ / (key + ".features");
  if (fs::exists(file)) {
    try {
      CachedFeatures cached = read_feature_file(file, key, data.samples.size());
      // With data.on_bad_image "error" a bad image must stop the run, as it would uncached.
      if (cached.bad.empty() || loader_options_.skip_bad_images) {
        log_.info("feature cache: read {}", file.string());
        return cached;
      }
    } catch (const DataError& error) {
      log_.warn("ignoring a damaged feature cache file: {}; computing the features again",
                error.what());
    }
  }
  CachedFeatures cached = extract_features(model_, data, loader_options_, device_, compute_);
  try {
    write_feature_file(file, key, cached);
    log_.info("feature cache: wrote {}", file.string());
  } catch (const IoError& error) {
    log_.warn("the features are not kept on disk: {}", error.what());
  }
  return cached;
}

// Writes last.pt with the resume state, in eval mode (as every checkpoint is saved), by one
// atomic rename: a kill at any moment leaves the previous or the new last.pt, whole.
void Trainer::save_last() {
  state_.ranking = ranking_.to_json();
  state_.early_stopping = early_stopping_.to_json();
  state_.phase = phase();
  state_.optimizer = optimizer_->state_json();
  state_.tensors = optimizer_->state_tensors();
  save_rng_states(state_.tensors);
  const bool training = model_.is_training();
  set_mode(false);
  metadata_.training = training_json();
  save_checkpoint_behind(last_checkpoint_path(run_dir_), encode_train_state(state_));
  if (training) set_mode(true);
}

// Training waits while the checkpoint is written to a temporary file (ResNet-18: about 0.1 s,
// into the page cache); the fsync and the rename over `path` happen on writer_'s thread.
void Trainer::save_checkpoint_behind(const fs::path& path,
                                     const torch::jit::ExtraFilesMap& entries) {
  const fs::path temp = atomic_temporary(path);
  write_checkpoint_file(model_, metadata_, entries, temp, path);
  try {
    writer_.add([temp, path] { commit_temporary(temp, path); });
  } catch (...) {  // an earlier write failed: this one is not committed either
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

void Trainer::write_kept(const CheckpointRanking::Update& update, std::int64_t epoch) {
  if (!update.new_best && !update.kept) return;
  if (update.new_best) {
    save_checkpoint_behind(checkpoint_path(kBestName), {});
    log_.info("new best {} {:.4f}: {}", ranking_.metric(), ranking_.best().value,
              checkpoint_path(kBestName).string());
  }
  if (update.kept) save_checkpoint_behind(checkpoint_path(epoch_checkpoint_name(epoch)), {});
  for (const std::int64_t dropped : update.dropped) {
    writer_.add([path = checkpoint_path(epoch_checkpoint_name(dropped))] {
      std::error_code error;
      fs::remove(path, error);
    });
  }
}

void Trainer::write_summary() {
  writer_.wait();  // the summary names checkpoints: they are on disk first
  nlohmann::ordered_json kept = nlohmann::ordered_json::array();
  for (const RankedEpoch& entry : ranking_.kept()) {
    kept.push_back({{"epoch", entry.epoch},
                    {"value", entry.value},
                    {"path", checkpoint_path(epoch_checkpoint_name(entry.epoch)).string()}});
  }
  const FinetuneResult summary = result(false);
  const nlohmann::ordered_json json = {{"stop_reason", summary.stop_reason},
                                       {"stop_message", summary.stop_message},
                                       {"epochs", summary.epochs},
                                       {"best_metric", summary.best_metric},
                                       {"best_epoch", summary.best_epoch},
                                       {"best_value", summary.best_value},
                                       {"best_checkpoint", summary.best_checkpoint.string()},
                                       {"bad_images", bad_images_.size()},
                                       {"top_k", kept}};
  write_file_atomic(run_dir_ / kSummaryName, json.dump(2) + "\n");
}

FinetuneResult Trainer::result(bool resumed) const {
  FinetuneResult result;
  result.run_dir = run_dir_;
  result.best_checkpoint = checkpoint_path(kBestName);
  result.best_metric = ranking_.metric();
  result.best_value = ranking_.best().value;
  result.best_epoch = ranking_.best().epoch;
  result.epochs = state_.epochs_done;
  result.stop_reason = state_.stop_reason;
  result.stop_message = state_.stop_message;
  result.resumed = resumed;
  if (metrics_log_) {
    for (const auto& line : metrics_log_->lines()) {
      if (line.at("epoch") == result.best_epoch) result.best_val_acc = line.at("val_acc");
    }
  } else if (fs::exists(result.best_checkpoint)) {
    result.best_val_acc =
        load_checkpoint(result.best_checkpoint, torch::kCPU).metadata.metrics.value("val_acc", 0.0);
  }
  return result;
}

}  // namespace

FinetuneResult finetune(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks,
                        RunMode mode) {
  validate_config(config);
  Trainer trainer(config, log, hooks, mode);
  return trainer.run();
}

}  // namespace ftl
