#include "ftl/train/trainer.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "ftl/data/dataset.h"
#include "ftl/data/image_cache.h"
#include "ftl/data/loader.h"
#include "ftl/data/split.h"
#include "ftl/dist/communicator.h"
#include "ftl/dist/shard.h"
#include "ftl/eval/evaluate.h"
#include "ftl/eval/metrics.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/device.h"
#include "ftl/model/model.h"
#include "ftl/model/train_state.h"
#include "ftl/train/early_stopping.h"
#include "ftl/train/feature_cache.h"
#include "ftl/train/loss.h"
#include "ftl/train/metrics_log.h"
#include "ftl/train/optimizer.h"
#include "ftl/train/ranking.h"
#include "ftl/train/run_folder.h"
#include "ftl/train/schedule.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "ftl/util/hash.h"
#include "ftl/util/runtime.h"

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

// In a distributed run "cuda" is the GPU of the rank's LOCAL_RANK on its machine.
torch::Device rank_device(const torch::Device& device, const std::string& name,
                          const Launch& launch) {
  if (!device.is_cuda() || !launch.distributed() || name != "cuda") return device;
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  if (launch.local_rank >= gpus) {
    throw ConfigError(fmt::format(
        "train.device \"cuda\": local rank {} has no GPU of its own ({} on this machine); start "
        "at most {} processes per machine",
        launch.local_rank, gpus, gpus));
  }
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank)};
}

// What one optimizer step trained on: this process's batch, or all ranks' together.
struct StepTotals {
  double weight = 0;  // the loss's denominator: images, or their class weights summed
  double loss = 0;    // mean training loss
  std::int64_t correct = 0;
  std::int64_t count = 0;
};

// The images of `data` that rank `rank` of `world_size` takes: every world_size-th one.
ImageFolder rank_share(const ImageFolder& data, int rank, int world_size) {
  ImageFolder share = data;
  share.samples.clear();
  for (const std::size_t i : shard_positions(data.samples.size(), rank, world_size)) {
    share.samples.push_back(data.samples[i]);
  }
  return share;
}

// The lines of `text` that hold a tab, split at their first tab (bad_images.txt's format).
std::vector<std::pair<std::string, std::string>> tab_separated(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const std::size_t tab = line.find('\t');
    if (tab != std::string::npos) pairs.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return pairs;
}

// The signal every rank acts on: its own, else the one that other ranks received.
int agreed_signal(int local, double stopping_ranks, double signal_sum) {
  if (stopping_ranks == 0) return 0;
  return local != 0 ? local : static_cast<int>(signal_sum / stopping_ranks);
}

class Trainer {
 public:
  Trainer(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks, RunMode mode,
          const Launch& launch)
      : config_(config),
        log_(log),
        hooks_(hooks),
        mode_(mode),
        launch_(launch),
        device_(rank_device(resolve_device(config.train.device, "train.device"),
                            config.train.device, launch)),
        run_dir_(config.output.dir),
        ranking_(config.train.best_metric, config.train.keep_top_k),
        early_stopping_(config.train.early_stopping) {}

  FinetuneResult run();

 private:
  void connect();
  void check_same_on_every_rank(const std::string& value, const std::string& what);
  StepTotals all_reduce_step(const StepTotals& local);
  int agree_on_stop(int local);
  void share_bad_images();
  void write_bad_images();
  std::string bad_images_text() const;
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
  std::optional<CachedFeatures> read_features(const fs::path& file, const std::string& key,
                                              const ImageFolder& data);
  CachedFeatures extract_features_together(const ImageFolder& data);
  bool on_every_rank(bool value, const std::string& what);
  torch::Tensor forward(const torch::Tensor& input);
  std::int64_t take_step(const Batch& batch, bool trains, std::int64_t epoch, std::int64_t step,
                         double lr);
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
  // Rank 0 of a distributed run, or the only process: the one that writes the run folder.
  bool root() const { return !comm_ || comm_->rank() == 0; }
  int world_size() const { return comm_ ? comm_->world_size() : 1; }
  // The validation images this process scores.
  const ImageFolder& my_val() const { return comm_ ? val_shard_ : val_; }

  const Config& config_;
  spdlog::logger& log_;
  const FinetuneHooks& hooks_;
  RunMode mode_;
  const Launch launch_;
  const torch::Device device_;
  std::unique_ptr<Communicator> comm_;  // a distributed run's process group
  ComputeMode compute_;
  const fs::path run_dir_;
  nlohmann::json resolved_config_;
  nlohmann::json checkpoint_config_;  // resolved_config_ without output.dir
  ImageFolder train_;
  ImageFolder val_;
  ImageFolder val_shard_;         // distributed: this rank's share of val_
  LoaderOptions loader_options_;  // validation's; training adds augmentation per epoch
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
  // Distributed: the time spent in the gradient all-reduce this epoch, and its steps.
  double allreduce_seconds_ = 0;
  std::int64_t allreduce_steps_ = 0;
  int agreed_signal_ = 0;  // the stop signal the ranks agreed on at the last step
  // Checkpoint files reach the disk on this writer's thread while training goes on. Last, so
  // that it is destroyed first: it finishes its jobs before anything else goes away.
  BackgroundWriter writer_;
};

FinetuneResult Trainer::run() {
  resolved_config_ = config_to_json(config_);
  // Checkpoints record the settings but not where the run folder is: a moved run still
  // resumes, and two runs of one config write the same bytes wherever they run.
  checkpoint_config_ = without_run_folder(resolved_config_);
  if (launch_.distributed()) connect();
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
    if (root()) {
      repair_kept_checkpoints(*last);
      write_summary();
    }
    return result(/*resumed=*/true);
  }
  state_.stop_reason.clear();
  state_.stop_message.clear();
  if (root()) {
    prepare_run_dir(last);
  } else {
    init_metadata(last ? &*last : nullptr);
  }
  setup_optimizer(last);
  for (std::int64_t epoch = state_.epochs_done + 1; epoch <= config_.train.epochs; ++epoch) {
    if (run_epoch(epoch)) break;
  }
  if (root()) write_summary();
  if (comm_) {
    // The other ranks end once rank 0's files are written: a failure there fails them too.
    comm_->all_reduce({torch::ones({1})}, "the end of the run");
  }
  return result(last.has_value());
}

// Joins the other ranks, and checks that they were all given the same run.
void Trainer::connect() {
  const auto start = Clock::now();
  log_.info("distributed: rank {} of {} ({}), rendezvous at {}:{}", launch_.rank,
            launch_.world_size, launch_.source, launch_.master_addr, launch_.master_port);
  comm_ = std::make_unique<Communicator>(launch_, config_.dist.backend, config_.dist.timeout_s,
                                         device_);
  log_.info("distributed: all {} ranks joined in {:.1f}s ({}); global batch {} x {} = {}",
            launch_.world_size, seconds_since(start), comm_->backend(), config_.data.batch_size,
            launch_.world_size, config_.data.batch_size * launch_.world_size);
  check_same_on_every_rank(
      checkpoint_config_.dump() + "\n" + std::to_string(static_cast<int>(mode_)),
      "a config (after --set, with --resume/--overwrite)");
}

// Throws ConfigError on every rank when some rank's `value` differs from rank 0's.
void Trainer::check_same_on_every_rank(const std::string& value, const std::string& what) {
  Fnv1a hash;
  hash.add(value);
  // The 64-bit hash as two 32-bit halves, which doubles carry exactly.
  constexpr std::uint64_t kLow32 = 0xffffffffULL;
  const torch::Tensor mine = torch::tensor(
      {static_cast<double>(hash.value() >> 32), static_cast<double>(hash.value() & kLow32)},
      torch::kFloat64);
  const torch::Tensor root_value = mine.clone();
  comm_->broadcast({root_value}, what);
  const torch::Tensor differing =
      torch::tensor({root_value.equal(mine) ? 0.0 : 1.0}, torch::kFloat64);
  comm_->all_reduce({differing}, what);
  const auto count = static_cast<int>(differing.item<double>());
  if (count > 0) {
    throw ConfigError(fmt::format(
        "{} of the {} ranks were given {} different from rank 0's{}; every rank must be "
        "started alike",
        count, world_size(), what, root_value.equal(mine) ? "" : ", this one among them"));
  }
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
  if (state_.world_size != world_size()) {
    // A step is batch_size x world_size images: mid-epoch, another world would replay or skip
    // some of them. At an epoch end only the global batch changes.
    if (state_.steps_done > 0) {
      throw ConfigError(fmt::format(
          "cannot resume {} with a world size of {}: {} was saved at step {} of epoch {} by a "
          "world size of {}; resume with {} processes, or from an epoch-end save",
          run_dir_.string(), world_size(), path.string(), state_.steps_done, state_.epochs_done + 1,
          state_.world_size, state_.world_size));
    }
    log_.warn("resuming a run of world size {} with world size {}: the global batch is now {} x {}",
              state_.world_size, world_size(), config_.data.batch_size, world_size());
  }
  read_bad_images();
  // A key added to ftl after the run started is read at its default, which is what the run
  // used; without this a run made by an older ftl could not be resumed.
  nlohmann::json recorded;
  try {
    recorded = without_run_folder(config_to_json(config_from_json(last.metadata.config)));
  } catch (const ConfigError& error) {
    throw ConfigError(
        "cannot resume " + run_dir_.string() + ": " + path.string() +
        " records a setting this ftl does not know (written by a newer ftl?): " + error.what());
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
            train_.samples.size(), train_.classes.size(), join(described), imbalance_ratio(counts));
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
  if (comm_) {
    check_same_on_every_rank(fingerprint + "\n" + dataset_fingerprint(val_),
                             "training or validation images");
    val_shard_ = rank_share(val_, comm_->rank(), world_size());
  }
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
  if (comm_) {
    // Every rank starts from rank 0's weights and BatchNorm statistics.
    std::vector<torch::Tensor> tensors;
    for (const torch::Tensor& parameter : model_.parameters(/*recurse=*/true)) {
      tensors.push_back(parameter);
    }
    for (const torch::Tensor& buffer : model_.buffers(/*recurse=*/true)) tensors.push_back(buffer);
    comm_->broadcast(tensors, "the initial weights");
  }
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
    summary[data == &train_ ? "train" : "val"] = {
        {"path", path.string()}, {"images", data->samples.size()}, {"classes", classes}};
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
  write_file_atomic(
      run_dir_ / kDataName,
      data_summary().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
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
  const std::string input = preprocess.eval_resize == kStretch
                                ? fmt::format("stretched to {0}x{0}", preprocess.image_size)
                                : fmt::format("shorter side to {0}, centre {1}x{1}",
                                              shorter_side(preprocess), preprocess.image_size);
  std::string training = "as validation";
  if (augment_.enabled) {
    training = fmt::format(
        "random-resized crop (scale {:g}-{:g}, ratio {:.3g}-{:.3g}){}{}", augment_.scale[0],
        augment_.scale[1], augment_.ratio[0], augment_.ratio[1], augment_.hflip ? ", flip" : "",
        augment_.color_jitter > 0 ? fmt::format(", colour jitter {:g}", augment_.color_jitter)
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
  return ftl::steps_per_epoch(train_.samples.size(), config_.data.batch_size, world_size());
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
  if (comm_) share_bad_images();
  if (cache_ && !cache_logged_) log_cache();  // once filled, after this process's first epoch
  if (state_.partial.count == 0 || validated.count() == 0) {
    throw DataError(
        fmt::format("epoch {}: no {} image could be used (data.on_bad_image skip "
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
      "{:.1f}s, {:.0f} img/s{}",
      epoch, config_.train.epochs, metrics.train_loss, metrics.train_acc, metrics.val_loss,
      metrics.val_acc, metrics.lr,
      metrics.lr_end != metrics.lr ? fmt::format("->{:.4g}", metrics.lr_end) : "", metrics.seconds,
      metrics.images_per_s,
      allreduce_steps_ > 0
          ? fmt::format(", all-reduce {:.2f} ms/step",
                        1000 * allreduce_seconds_ / static_cast<double>(allreduce_steps_))
          : "");
  // The metrics line goes first: a resume keeps as many lines as last.pt has epochs, so a line
  // written by an epoch whose last.pt never landed is dropped, and none can be missing.
  if (root()) metrics_log_->append(metrics);

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
  if (const int signal = agree_on_stop(poll_stop());
      signal != 0 && epoch < config_.train.epochs && !stop_early) {
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
  const auto done =
      static_cast<std::size_t>(state_.steps_done * config_.data.batch_size * world_size());
  order.erase(order.begin(),
              order.begin() + static_cast<std::ptrdiff_t>(std::min(done, order.size())));
  // This rank's slice of each global batch; a single process takes all of every batch.
  EpochShard shard =
      shard_epoch(order, config_.data.batch_size, comm_ ? comm_->rank() : 0, world_size());
  allreduce_seconds_ = 0;
  allreduce_steps_ = 0;
  if (!features_considered_) prepare_features();
  LoaderOptions options = loader_options_;
  options.augment = augment_;
  options.seed = static_cast<std::uint64_t>(config_.train.seed);
  options.epoch = epoch;
  // Batches of images, or of cached backbone features in the same order and chunks.
  std::optional<BatchLoader> loader;
  std::optional<FeatureBatches> features;
  if (train_features_) {
    features.emplace(*train_features_, train_.samples, std::move(shard.order),
                     config_.data.batch_size, device_);
  } else {
    loader.emplace(train_.samples, std::move(shard.order), options);
  }
  auto next = [&](Batch& batch) { return features ? features->next(batch) : loader->next(batch); };

  std::int64_t images = 0;
  for (const std::int64_t step_images : shard.step_images) {
    const std::int64_t step = state_.steps_done;
    Batch batch;  // stays empty where this rank has no image in the last global batch
    if (step_images > 0 && !next(batch)) {
      throw std::logic_error("the loader ended before the epoch's last step");
    }
    note_bad_images(batch.bad, train_);
    // Training BatchNorm cannot normalise a single image: a trailing batch of one is skipped,
    // as is a batch whose images were all left out (data.on_bad_image skip). A rank without
    // images still joins the step's all-reduce.
    const std::int64_t size = batch.labels.defined() ? batch.labels.size(0) : 0;
    const bool trains = size > 1 || (size == 1 && !batchnorm_trains);
    if (trains || comm_) images += take_step(batch, trains, epoch, step, lr_at(epoch, step));
    state_.steps_done = step + 1;
    if (hooks_.on_batch) {
      hooks_.on_batch({epoch, config_.train.epochs, static_cast<std::size_t>(step + 1),
                       static_cast<std::size_t>(batches),
                       state_.partial.loss_sum /
                           static_cast<double>(std::max<std::int64_t>(state_.partial.count, 1))});
    }
    writer_.check();                 // a checkpoint that failed to write stops the run now
    if (step + 1 == batches) break;  // the epoch end saves
    const int signal = comm_ ? agreed_signal_ : poll_stop();
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

// Averages the gradients of this step over the ranks, weighting each rank by its share of
// the global batch, so that the step is the one a single process would take on the whole
// global batch. The step's totals and stop votes travel in the same all-reduce.
StepTotals Trainer::all_reduce_step(const StepTotals& local) {
  const auto start = Clock::now();
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& parameter : optimizer_->parameters()) {
    torch::Tensor& grad = parameter.mutable_grad();
    if (!grad.defined()) grad = torch::zeros_like(parameter);  // no image on this rank
    grad.mul_(local.weight);  // this rank's mean loss gradient -> its summed gradient
    tensors.push_back(grad);
  }
  const int signal = poll_stop();
  const torch::Tensor totals =
      torch::tensor({local.weight, local.weight > 0 ? local.loss * local.weight : 0.0,
                     static_cast<double>(local.correct), static_cast<double>(local.count),
                     signal != 0 ? 1.0 : 0.0, static_cast<double>(signal)},
                    torch::kFloat64);
  tensors.push_back(totals);
  comm_->all_reduce(tensors, "the gradients");
  const std::vector<double> sums(totals.data_ptr<double>(), totals.data_ptr<double>() + 6);
  StepTotals total;
  total.weight = sums[0];
  total.loss = total.weight > 0 ? sums[1] / total.weight : 0.0;
  total.correct = static_cast<std::int64_t>(sums[2]);
  total.count = static_cast<std::int64_t>(sums[3]);
  agreed_signal_ = agreed_signal(signal, sums[4], sums[5]);
  if (total.weight > 0) {
    for (const torch::Tensor& parameter : optimizer_->parameters()) {
      parameter.mutable_grad().div_(total.weight);
    }
  }
  allreduce_seconds_ += seconds_since(start);
  ++allreduce_steps_;
  return total;
}

// Every rank stops at the same point: when any of them has received a signal.
int Trainer::agree_on_stop(int local) {
  if (!comm_) return local;
  const torch::Tensor votes =
      torch::tensor({local != 0 ? 1.0 : 0.0, static_cast<double>(local)}, torch::kFloat64);
  comm_->all_reduce({votes}, "the stop signal");
  return agreed_signal(local, votes[0].item<double>(), votes[1].item<double>());
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
  if (added && root()) write_bad_images();
}

void Trainer::write_bad_images() {
  write_file_atomic(run_dir_ / kBadImagesName, bad_images_text());
}

// bad_images.txt's content: a line per image, its path, a tab and the reason.
std::string Trainer::bad_images_text() const {
  std::string text;
  for (const auto& [path, reason] : bad_images_) text += path + "\t" + reason + "\n";
  return text;
}

// Rank 0 adds the images the other ranks left out to bad_images.txt.
void Trainer::share_bad_images() {
  bool added = false;
  for (const std::string& received :
       comm_->all_gather_text(bad_images_text(), "the bad image lists")) {
    for (const auto& [path, reason] : tab_separated(received)) {
      added |= bad_images_.emplace(path, reason).second;
    }
  }
  if (added && root()) write_bad_images();
}

// A resumed run starts from the images its earlier part left out.
void Trainer::read_bad_images() {
  std::ifstream in(run_dir_ / kBadImagesName);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [path, reason] : tab_separated(text)) bad_images_.emplace(path, reason);
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

// One optimizer step on `batch` (when `trains`; a rank of a distributed run joins every step).
// Returns the images it trained on: this process's, or all ranks' together.
std::int64_t Trainer::take_step(const Batch& batch, bool trains, std::int64_t epoch,
                                std::int64_t step, double lr) {
  optimizer_->set_lr(lr);
  optimizer_->sgd().zero_grad();
  StepTotals local;
  if (trains) {
    const torch::Tensor labels = batch.labels.to(device_);
    const torch::Tensor logits = forward(batch.images.to(device_));
    const torch::Tensor loss =
        training_loss(logits, labels, class_weights_, config_.train.label_smoothing);
    local.loss = loss.item<double>();
    // Alone, stop before backward; a rank stops with the others, after the all-reduce.
    if (!comm_ && !std::isfinite(local.loss)) {
      throw_diverged("training loss", local.loss, epoch, step, lr);
    }
    loss.backward();
    local.count = labels.size(0);
    local.correct = logits.detach().argmax(1).eq(labels).sum().item<std::int64_t>();
    // cross_entropy's mean divides by the class weights of the batch's labels, summed.
    local.weight = static_cast<double>(local.count);
    if (comm_ && class_weights_.defined()) {
      local.weight = class_weights_.index_select(0, labels).sum().item<double>();
    }
  }
  const StepTotals total = comm_ ? all_reduce_step(local) : local;
  if (total.count == 0) return 0;
  if (!std::isfinite(total.loss)) throw_diverged("training loss", total.loss, epoch, step, lr);
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
  state_.partial.loss_sum += total.loss * static_cast<double>(total.count);
  state_.partial.correct += total.correct;
  state_.partial.count += total.count;
  return total.count;
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

// Scores this process's validation images; in a distributed run every rank's share, merged.
MetricsAccumulator Trainer::validate() {
  MetricsAccumulator metrics(static_cast<std::int64_t>(val_.classes.size()), kDefaultTopK);
  if (!val_features_) {
    AutocastScope autocast(compute_, device_);
    std::vector<BadImage> bad;
    metrics =
        evaluate_samples(model_, my_val(), loader_options_, device_, kDefaultTopK, nullptr, &bad);
    note_bad_images(bad, my_val());
  } else {
    torch::NoGradGuard no_grad;
    const std::vector<std::size_t> order =
        comm_ ? shard_positions(val_.samples.size(), comm_->rank(), world_size())
              : identity_order(val_.samples.size());
    FeatureBatches batches(*val_features_, val_.samples, order, config_.data.batch_size, device_);
    Batch batch;
    while (batches.next(batch)) {
      if (!batch.indices.empty()) metrics.add(forward(batch.images), batch.labels);
    }
  }
  if (comm_) {
    const torch::Tensor totals = metrics.totals();
    comm_->all_reduce({totals}, "the validation metrics");
    metrics.set_totals(totals);
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
  log_.info(
      "feature cache: the backbone's {}-d features of {} training and {} validation images "
      "ready in {:.1f}s; the head trains on them",
      train_features_->features.size(1), train_.samples.size(), val_.samples.size(),
      seconds_since(start));
}

CachedFeatures Trainer::features_of(const ImageFolder& data, const nlohmann::json& settings) {
  const bool disk = config_.train.feature_cache == "disk";
  const std::string key = disk ? feature_cache_key(data, settings) : std::string();
  const fs::path file = disk ? feature_cache_dir_ / (key + ".features") : fs::path();
  std::optional<CachedFeatures> cached;
  if (disk) cached = read_features(file, key, data);
  // The ranks' cache folders need not be one: the file is used only when every rank read it.
  if (comm_ && !on_every_rank(cached.has_value(), "whether the feature cache was read") && cached) {
    log_.info("feature cache: {} is not on every rank; the ranks compute the features again",
              file.string());
    cached.reset();
  }
  if (cached) {
    log_.info("feature cache: read {}", file.string());
    return std::move(*cached);
  }
  CachedFeatures computed =
      comm_ ? extract_features_together(data)
            : extract_features(model_, data, loader_options_, device_, compute_);
  if (disk && root()) {
    try {
      write_feature_file(file, key, computed);
      log_.info("feature cache: wrote {}", file.string());
    } catch (const IoError& error) {
      log_.warn("the features are not kept on disk: {}", error.what());
    }
  }
  return computed;
}

std::optional<CachedFeatures> Trainer::read_features(const fs::path& file, const std::string& key,
                                                     const ImageFolder& data) {
  if (!fs::exists(file)) return std::nullopt;
  try {
    CachedFeatures cached = read_feature_file(file, key, data.samples.size());
    // With data.on_bad_image "error" a bad image must stop the run, as it would uncached.
    if (cached.bad.empty() || loader_options_.skip_bad_images) return cached;
  } catch (const DataError& error) {
    log_.warn("ignoring a damaged feature cache file: {}; computing the features again",
              error.what());
  }
  return std::nullopt;
}

// Each rank runs the backbone over its round-robin share of the images, and the shares are
// summed into place: every rank then holds every image's features, since its training shard
// changes every epoch.
CachedFeatures Trainer::extract_features_together(const ImageFolder& data) {
  const std::vector<std::size_t> mine =
      shard_positions(data.samples.size(), comm_->rank(), world_size());
  const CachedFeatures local = extract_features(
      model_, rank_share(data, comm_->rank(), world_size()), loader_options_, device_, compute_);
  CachedFeatures all;
  all.features =
      torch::zeros({static_cast<std::int64_t>(data.samples.size()), local.features.size(1)});
  const std::vector<std::int64_t> rows(mine.begin(), mine.end());
  all.features.index_copy_(0, torch::tensor(rows, torch::kInt64), local.features);
  comm_->all_reduce({all.features}, "the backbone features");
  std::string text;
  for (const BadImage& image : local.bad) {
    text += std::to_string(mine[image.index]) + "\t" + image.reason + "\n";
  }
  for (const std::string& received : comm_->all_gather_text(text, "the images left out")) {
    for (const auto& [index, reason] : tab_separated(received)) {
      all.bad.push_back({static_cast<std::size_t>(std::stoull(index)), reason});
    }
  }
  return all;
}

// Whether `value` holds on every rank.
bool Trainer::on_every_rank(bool value, const std::string& what) {
  const torch::Tensor count = torch::tensor({value ? 1.0 : 0.0}, torch::kFloat64);
  comm_->all_reduce({count}, what);
  return count.item<double>() == static_cast<double>(world_size());
}

// Writes last.pt with the resume state, in eval mode (as every checkpoint is saved), by one
// atomic rename: a kill at any moment leaves the previous or the new last.pt, whole.
void Trainer::save_last() {
  if (!root()) return;
  state_.world_size = world_size();
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
  if (!root() || (!update.new_best && !update.kept)) return;
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
  } else if (root() && fs::exists(result.best_checkpoint)) {
    result.best_val_acc =
        load_checkpoint(result.best_checkpoint, torch::kCPU).metadata.metrics.value("val_acc", 0.0);
  }
  return result;
}

}  // namespace

FinetuneResult finetune(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks,
                        RunMode mode, const Launch& launch) {
  validate_config(config);
  Trainer trainer(config, log, hooks, mode, launch);
  return trainer.run();
}

}  // namespace ftl
