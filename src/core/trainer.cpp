#include "ftl/trainer.h"

#include <chrono>
#include <system_error>

#include "ftl/checkpoint.h"
#include "ftl/dataset.h"
#include "ftl/device.h"
#include "ftl/errors.h"
#include "ftl/evaluate.h"
#include "ftl/files.h"
#include "ftl/loader.h"
#include "ftl/metrics.h"
#include "ftl/metrics_log.h"
#include "ftl/model.h"
#include "ftl/runtime.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Refuses a run folder that already holds a run's results, before any work is done.
void check_run_dir_free(const fs::path& run_dir) {
  for (const char* existing : {"metrics.jsonl", "checkpoints"}) {
    if (fs::exists(run_dir / existing)) {
      throw IoError("output.dir " + run_dir.string() + " already holds a run (" + existing +
                    "); choose another folder or remove it");
    }
  }
}

fs::path create_run_dir(const std::string& dir) {
  const fs::path run_dir(dir);
  std::error_code error;
  fs::create_directories(run_dir / "checkpoints", error);
  if (error) {
    throw IoError("output.dir " + run_dir.string() + ": cannot create: " + error.message());
  }
  return run_dir;
}

std::string class_counts(const ImageFolder& data) {
  std::vector<std::int64_t> counts(data.classes.size(), 0);
  for (const Sample& sample : data.samples) ++counts[static_cast<std::size_t>(sample.label)];
  std::string out;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    out += (out.empty() ? "" : ", ") + data.classes[i] + "=" + std::to_string(counts[i]);
  }
  return out;
}

struct TrainEpoch {
  double loss = 0;
  double accuracy = 0;
  double seconds = 0;
  std::int64_t images = 0;
};

TrainEpoch train_one_epoch(torch::jit::Module& model, torch::optim::Optimizer& optimizer,
                           const ImageFolder& train, const Config& config,
                           const LoaderOptions& loader_options, const torch::Device& device,
                           std::int64_t epoch, const FinetuneHooks& hooks) {
  const auto start = Clock::now();
  set_training(model, true, config.model.freeze);
  BatchLoader loader(
      train.samples,
      epoch_order(train.samples.size(), static_cast<std::uint64_t>(config.train.seed), epoch),
      loader_options);
  MetricsAccumulator metrics(static_cast<std::int64_t>(train.classes.size()), /*top_k=*/1);
  const bool batchnorm_trains = config.model.freeze == "none";
  Batch batch;
  std::size_t done = 0;
  while (loader.next(batch)) {
    ++done;
    // Training BatchNorm cannot normalise a single image: a trailing batch of one is skipped.
    if (batchnorm_trains && batch.labels.size(0) == 1) continue;
    const torch::Tensor images = batch.images.to(device);
    const torch::Tensor labels = batch.labels.to(device);
    const torch::Tensor logits = model.forward({images}).toTensor();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    metrics.add(logits, labels, loss.item<double>() * static_cast<double>(labels.size(0)));
    if (hooks.on_batch) {
      hooks.on_batch({epoch, config.train.epochs, done, loader.num_batches(), metrics.mean_loss()});
    }
  }
  TrainEpoch result;
  result.loss = metrics.mean_loss();
  result.accuracy = metrics.accuracy();
  result.images = metrics.count();
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace

FinetuneResult finetune(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks) {
  validate_config(config);
  const torch::Device device = resolve_device(config.train.device, "train.device");
  check_run_dir_free(config.output.dir);
  const std::int64_t threads = configure_compute_threads(config.train.threads);
  const std::int64_t workers = resolve_workers(config.data.workers);

  const ImageFolder train = scan_image_folder(config.data.train);
  const ImageFolder val = scan_image_folder(config.data.val);
  check_same_classes(train, val);
  if (train.samples.size() < 2) {
    throw DataError(train.root.string() + ": at least 2 training images are needed");
  }
  const auto num_classes = static_cast<std::int64_t>(train.classes.size());
  log.info("train: {} images in {} classes ({})", train.samples.size(), num_classes,
           class_counts(train));
  log.info("val: {} images", val.samples.size());

  LoadedModel loaded = load_model(config.model.path, device);
  if (loaded.traced) {
    log.warn(
        "{} was made by torch.jit.trace: its BatchNorm layers keep the mode they were "
        "traced in and will not train as expected; export with torch.jit.script",
        config.model.path);
  }
  torch::jit::Module& model = loaded.module;
  log.info("model: {} (fc {} -> {} classes), device {}, {} compute threads, {} loader workers",
           config.model.path, head_out_features(model), num_classes, device.str(), threads,
           workers);
  replace_head(model, num_classes, static_cast<std::uint64_t>(config.train.seed));
  std::vector<torch::Tensor> trainable = configure_trainable(model, config.model.freeze);

  const fs::path run_dir = create_run_dir(config.output.dir);
  const nlohmann::json resolved = config_to_json(config);
  write_file_atomic(run_dir / "config.json", resolved.dump(2) + "\n");
  MetricsLog metrics_log(run_dir);

  torch::optim::SGD optimizer(trainable, torch::optim::SGDOptions(config.optimizer.lr)
                                             .momentum(config.optimizer.momentum)
                                             .weight_decay(config.optimizer.weight_decay)
                                             .nesterov(config.optimizer.nesterov));
  LoaderOptions loader_options;
  loader_options.batch_size = config.data.batch_size;
  loader_options.preprocess.image_size = config.data.image_size;
  loader_options.workers = workers;

  CheckpointMetadata metadata;
  metadata.classes = train.classes;
  metadata.preprocess = loader_options.preprocess;
  metadata.config = resolved;

  FinetuneResult result;
  result.run_dir = run_dir;
  result.best_checkpoint = run_dir / "checkpoints" / "best.pt";
  for (std::int64_t epoch = 1; epoch <= config.train.epochs; ++epoch) {
    const auto start = Clock::now();
    const TrainEpoch trained =
        train_one_epoch(model, optimizer, train, config, loader_options, device, epoch, hooks);
    set_training(model, false, config.model.freeze);
    const MetricsAccumulator validated = evaluate_samples(model, val, loader_options, device);

    EpochMetrics metrics;
    metrics.epoch = epoch;
    metrics.train_loss = trained.loss;
    metrics.train_acc = trained.accuracy;
    metrics.val_loss = validated.mean_loss();
    metrics.val_acc = validated.accuracy();
    metrics.lr = optimizer.param_groups().front().options().get_lr();
    metrics.seconds = seconds_since(start);
    metrics.images_per_s = static_cast<double>(trained.images) / trained.seconds;
    if (hooks.on_epoch_end) hooks.on_epoch_end();
    log.info(
        "epoch {}/{}: train loss {:.4f} acc {:.4f} | val loss {:.4f} acc {:.4f} | lr {:g} | "
        "{:.1f}s, {:.0f} img/s",
        epoch, config.train.epochs, metrics.train_loss, metrics.train_acc, metrics.val_loss,
        metrics.val_acc, metrics.lr, metrics.seconds, metrics.images_per_s);
    metrics_log.append(metrics);

    metadata.epoch = epoch;
    metadata.metrics = {{"train_loss", metrics.train_loss},
                        {"train_acc", metrics.train_acc},
                        {"val_loss", metrics.val_loss},
                        {"val_acc", metrics.val_acc}};
    const std::string checkpoint = serialize_checkpoint(model, metadata);
    write_file_atomic(run_dir / "checkpoints" / "last.pt", checkpoint);
    if (epoch == 1 || metrics.val_acc > result.best_val_acc) {
      result.best_val_acc = metrics.val_acc;
      result.best_epoch = epoch;
      write_file_atomic(result.best_checkpoint, checkpoint);
      log.info("new best val acc {:.4f}: {}", metrics.val_acc, result.best_checkpoint.string());
    }
    result.epochs = epoch;
  }
  return result;
}

}  // namespace ftl
