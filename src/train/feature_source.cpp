#include "ftl/train/feature_source.h"

#include <chrono>

#include "ftl/distributed/shard.h"
#include "ftl/util/errors.h"
#include "ftl/util/text.h"

namespace fs = std::filesystem;

namespace ftl {

FeatureSource::FeatureSource(const Config& config, const torch::Device& device,
                             const ComputeMode& compute)
    : config_(config), device_(device), compute_(compute) {
  if (config.train.feature_cache == FeatureCacheMode::kDisk) {
    dir_ = config.train.feature_cache_dir.empty() ? default_feature_cache_dir()
                                                  : fs::path(config.train.feature_cache_dir);
  }
}

void FeatureSource::drop() {
  train_.reset();
  val_.reset();
  split_.reset();
}

void FeatureSource::prepare(const TrainingModel& model, const std::string& varying,
                            const RunData& data, const LoaderOptions& options, Ranks& ranks,
                            const NoteBadImages& note, spdlog::logger& log) {
  considered_ = true;
  if (config_.train.feature_cache == FeatureCacheMode::kOff) return;
  const bool frozen = !model.frozen().empty();
  std::string obstacle = feature_cache_obstacle(model.module(), model.head(), varying);
  if (obstacle.empty()) {
    try {
      split_.emplace(model.module(), model.head());
    } catch (const ModelError& error) {
      obstacle = error.what();
    }
  }
  if (!obstacle.empty()) {
    // Worth a line only when something is frozen or the cache was asked for by name.
    if (config_.train.feature_cache == FeatureCacheMode::kDisk) {
      log.warn("train.feature_cache \"disk\" is not used: {}", obstacle);
    } else if (frozen) {
      log.info("feature cache not used: {}", obstacle);
    }
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const nlohmann::json settings =
      feature_cache_settings(config_,
                             config_.train.feature_cache == FeatureCacheMode::kDisk
                                 ? backbone_fingerprint(model.module(), model.head())
                                 : "",
                             device_);
  train_ = features_of(model, data.train, settings, options, ranks, log);
  val_ = features_of(model, data.val, settings, options, ranks, log);
  note(train_->bad, data.train);
  note(val_->bad, data.val);
  log.info(
      "feature cache: the backbone's {} features of {} training and {} validation images "
      "ready in {:.1f}s; {} trains on them",
      feature_shape(*train_), data.train.samples.size(), data.val.samples.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
      model.head().block == model.head().path ? "the head"
                                              : "the head's block " + model.head().block);
}

CachedFeatures FeatureSource::features_of(const TrainingModel& model, const ImageFolder& data,
                                          const nlohmann::json& settings,
                                          const LoaderOptions& options, Ranks& ranks,
                                          spdlog::logger& log) {
  const bool disk = config_.train.feature_cache == FeatureCacheMode::kDisk;
  const std::string key = disk ? feature_cache_key(data, settings) : std::string();
  const fs::path file = disk ? dir_ / (key + ".features") : fs::path();
  std::optional<CachedFeatures> cached;
  if (disk) cached = read(file, key, data, options.skip_bad_images, log);
  // The ranks' cache folders need not be one: the file is used only when every rank read it.
  if (!ranks.on_every_rank(cached.has_value(), "whether the feature cache was read") && cached) {
    log.info("feature cache: {} is not on every rank; the ranks compute the features again",
             file.string());
    cached.reset();
  }
  if (cached) {
    log.info("feature cache: read {}", file.string());
    return std::move(*cached);
  }
  CachedFeatures computed = extract_on_ranks(model, data, options, ranks);
  if (disk && ranks.root()) {
    try {
      write_feature_file(file, key, computed);
      log.info("feature cache: wrote {}", file.string());
    } catch (const IoError& error) {
      log.warn("the features are not kept on disk: {}", error.what());
    }
  }
  return computed;
}

std::optional<CachedFeatures> FeatureSource::read(const fs::path& file, const std::string& key,
                                                  const ImageFolder& data, bool skip_bad_images,
                                                  spdlog::logger& log) {
  if (!fs::exists(file)) return std::nullopt;
  try {
    CachedFeatures cached = read_feature_file(file, key, data.samples.size());
    // With data.on_bad_image "error" a bad image must stop the run, as it would uncached.
    if (cached.bad.empty() || skip_bad_images) return cached;
  } catch (const DataError& error) {
    log.warn("ignoring a damaged feature cache file: {}; computing the features again",
             error.what());
  }
  return std::nullopt;
}

// Each rank runs the backbone over its round-robin share of the images, and the shares are
// summed into place: every rank then holds every image's features, since its training shard
// changes every epoch. A single process's share is every image.
CachedFeatures FeatureSource::extract_on_ranks(const TrainingModel& model, const ImageFolder& data,
                                               const LoaderOptions& options, Ranks& ranks) {
  const std::vector<std::size_t> mine =
      shard_positions(data.samples.size(), ranks.rank(), ranks.world_size());
  const CachedFeatures local = extract_features(model.module(), *split_, model.head(),
                                                rank_share(data, ranks.rank(), ranks.world_size()),
                                                options, device_, compute_);
  CachedFeatures all;
  std::vector<std::int64_t> shape = local.features.sizes().vec();
  shape[0] = static_cast<std::int64_t>(data.samples.size());
  all.features = torch::zeros(shape);
  const std::vector<std::int64_t> rows(mine.begin(), mine.end());
  all.features.index_copy_(0, torch::tensor(rows, torch::kInt64), local.features);
  ranks.all_reduce({all.features}, "the backbone features");
  std::string text;
  for (const BadImage& image : local.bad) {
    text += std::to_string(mine[image.index]) + "\t" + image.reason + "\n";
  }
  for (const std::string& received : ranks.all_gather_text(text, "the images left out")) {
    for (const auto& [index, reason] : tab_separated(received)) {
      all.bad.push_back({static_cast<std::size_t>(std::stoull(index)), reason});
    }
  }
  return all;
}

TrainingBatches::TrainingBatches(const FeatureSource& source, const std::vector<Sample>& samples,
                                 std::vector<std::size_t> order, const LoaderOptions& options,
                                 const torch::Device& device) {
  if (source.active()) {
    features_.emplace(source.train(), samples, std::move(order), options.batch_size, device);
  } else {
    loader_.emplace(samples, std::move(order), options);
  }
}

}  // namespace ftl
