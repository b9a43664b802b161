// Where the head's inputs come from when the feature cache applies (train.feature_cache): the
// backbone's features of every training and validation image, computed once at the first epoch
// this process trains (shared out over the ranks), or read from a disk cache file. Dropped once
// the backbone trains (staged unfreezing). See feature_cache.h for when the cache may stand in
// for the network.
#pragma once

#include <spdlog/logger.h>
#include <torch/script.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/data/loader.h"
#include "ftl/distributed/ranks.h"
#include "ftl/model/compute_mode.h"
#include "ftl/train/feature_cache.h"
#include "ftl/train/run_data.h"
#include "ftl/train/training_model.h"

namespace ftl {

/// Receives the images that a pass over `data` left out.
using NoteBadImages = std::function<void(const std::vector<BadImage>&, const ImageFolder&)>;

class FeatureSource {
 public:
  /// Resolves the disk cache's folder for train.feature_cache "disk" (ConfigError when it has
  /// none).
  FeatureSource(const Config& config, const torch::Device& device, const ComputeMode& compute);

  /// Whether prepare() has run: the decision is taken once.
  bool considered() const { return considered_; }
  /// Whether the head trains on cached features now.
  bool active() const { return train_.has_value(); }
  const CachedFeatures& train() const { return *train_; }
  const CachedFeatures& val() const { return *val_; }
  /// The network's logits from a batch of cached features: its head's block and what follows.
  torch::Tensor logits(const torch::jit::Module& network, const torch::Tensor& features) const {
    return split_->logits(network, features);
  }
  void drop();

  /// Decides whether the cache stands in for `model` as it is now (its frozen parameters and
  /// modes, and whether its forward can be split at the head's block) with inputs that vary as
  /// `varying` says (varying_inputs), and if so computes or reads the features of both
  /// datasets. An unused cache is worth a line when part of the
  /// network is frozen.
  void prepare(const TrainingModel& model, const std::string& varying, const RunData& data,
               const LoaderOptions& options, Ranks& ranks, const NoteBadImages& note,
               spdlog::logger& log);

 private:
  CachedFeatures features_of(const TrainingModel& model, const ImageFolder& data,
                             const nlohmann::json& settings, const LoaderOptions& options,
                             Ranks& ranks, spdlog::logger& log);
  std::optional<CachedFeatures> read(const std::filesystem::path& file, const std::string& key,
                                     const ImageFolder& data, bool skip_bad_images,
                                     spdlog::logger& log);
  CachedFeatures extract_on_ranks(const TrainingModel& model, const ImageFolder& data,
                                  const LoaderOptions& options, Ranks& ranks);

  const Config& config_;
  const torch::Device device_;
  const ComputeMode compute_;
  std::filesystem::path dir_;  // train.feature_cache "disk": where the files are
  bool considered_ = false;
  std::optional<NetworkSplit> split_;
  std::optional<CachedFeatures> train_;
  std::optional<CachedFeatures> val_;
};

/// The batches an epoch trains on: images through the loader or, while the feature cache is
/// active, the cached features in the same order and chunks.
class TrainingBatches {
 public:
  /// `source` and `samples` must outlive this.
  TrainingBatches(const FeatureSource& source, const std::vector<Sample>& samples,
                  std::vector<std::size_t> order, const LoaderOptions& options,
                  const torch::Device& device);
  bool next(Batch& batch) { return features_ ? features_->next(batch) : loader_->next(batch); }

 private:
  std::optional<BatchLoader> loader_;
  std::optional<FeatureBatches> features_;
};

}  // namespace ftl
