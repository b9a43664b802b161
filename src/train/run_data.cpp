#include "ftl/train/run_data.h"

#include <spdlog/fmt/fmt.h>

#include "ftl/data/split.h"
#include "ftl/model/run_layout.h"
#include "ftl/train/loss.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"
#include "ftl/util/text.h"

namespace ftl {
namespace {

// data.val_fraction: part of each class of data.train is held out for validation.
void split_train(const DataConfig& config, std::uint64_t seed, RunData& data, spdlog::logger& log) {
  Split split = split_dataset(scan_dataset(config.train), config.val_fraction, seed);
  data.train = std::move(split.train);
  data.val = std::move(split.val);
  data.split = true;
  if (data.val.samples.empty()) {
    throw DataError(fmt::format("data.val_fraction {:g}", config.val_fraction) +
                    " holds out no image of " + config.train +
                    ": every class has a single image; give data.val instead");
  }
  log.info("data.val_fraction {}: {} images held out of {} for validation", config.val_fraction,
           data.val.samples.size(), data.train.samples.size() + data.val.samples.size());
}

void log_datasets(const RunData& data, spdlog::logger& log) {
  std::vector<std::string> described;
  for (std::size_t c = 0; c < data.train_counts.size(); ++c) {
    described.push_back(data.train.classes[c] + "=" + std::to_string(data.train_counts[c]));
  }
  log.info("train: {} images in {} classes ({}); largest / smallest class {:.2f}",
           data.train.samples.size(), data.train.classes.size(), join(described),
           imbalance_ratio(data.train_counts));
  log.info("val: {} images", data.val.samples.size());
  for (const ImageFolder* folder : {&data.train, &data.val}) {
    if (folder->skipped_files > 0) {
      log.info("{}: {} hidden or non-image files left out", folder->root.string(),
               folder->skipped_files);
    }
  }
}

}  // namespace

RunData load_run_data(const DataConfig& config, std::uint64_t seed, spdlog::logger& log) {
  RunData data;
  if (config.val_fraction > 0) {
    split_train(config, seed, data, log);
  } else {
    data.train = scan_dataset(config.train);
    data.val = scan_dataset(config.val);
  }
  check_same_classes(data.train, data.val);
  if (data.train.samples.size() < 2) {
    throw DataError(data.train.root.string() + ": at least 2 training images are needed");
  }
  data.train_counts = class_counts(data.train);
  log_datasets(data, log);
  data.train_fingerprint = dataset_fingerprint(data.train);
  return data;
}

torch::Tensor run_class_weights(const nlohmann::json& setting, const RunData& data,
                                const torch::Device& device, spdlog::logger& log) {
  torch::Tensor weights = class_weights(setting, data.train.classes, data.train_counts);
  if (!weights.defined()) return weights;
  std::vector<std::string> described;
  for (std::size_t c = 0; c < data.train_counts.size(); ++c) {
    described.push_back(fmt::format("{}={:.4g}", data.train.classes[c],
                                    weights[static_cast<std::int64_t>(c)].item<double>()));
  }
  log.info("class weights: {}", join(described));
  return weights.to(device);
}

nlohmann::ordered_json data_summary(const RunData& data, const std::filesystem::path& run_dir) {
  nlohmann::ordered_json summary;
  for (const ImageFolder* folder : {&data.train, &data.val}) {
    const bool is_train = folder == &data.train;
    const std::vector<std::int64_t> counts = class_counts(*folder);
    nlohmann::ordered_json classes;
    for (std::size_t c = 0; c < counts.size(); ++c) classes[folder->classes[c]] = counts[c];
    // A split's parts live in the run folder's manifests, not in data.train.
    const std::filesystem::path path =
        !data.split ? folder->root : run_dir / (is_train ? kTrainSplitName : kValSplitName);
    summary[is_train ? "train" : "val"] = {
        {"path", path.string()}, {"images", folder->samples.size()}, {"classes", classes}};
  }
  return summary;
}

LoaderOptions run_loader_options(const Config& config, bool channels_last, ImageCache* cache) {
  LoaderOptions options;
  options.workers = resolve_loader_workers(config.data.workers);
  options.batch_size = config.data.batch_size;
  options.prefetch = config.data.prefetch;
  options.preprocess = config.data.preprocess;
  options.skip_bad_images = config.data.on_bad_image == BadImagePolicy::kSkip;
  options.channels_last = channels_last;
  options.cache = cache;
  return options;
}

std::unique_ptr<ImageCache> make_run_cache(const DataConfig& data) {
  if (data.cache != DataCache::kMemory) return nullptr;
  return std::make_unique<ImageCache>(static_cast<std::uint64_t>(data.cache_max_bytes));
}

}  // namespace ftl
