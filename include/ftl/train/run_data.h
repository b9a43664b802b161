// The images a run trains and validates on: the folders or manifests of data.train and
// data.val, or data.val_fraction's split of data.train, with their class counts and the
// training set's fingerprint (a resumed run must see the same images).
#pragma once

#include <spdlog/logger.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/data/dataset.h"
#include "ftl/data/image_cache.h"
#include "ftl/data/loader.h"

namespace ftl {

struct RunData {
  ImageFolder train;
  ImageFolder val;
  std::vector<std::int64_t> train_counts;  // training images per class
  std::string train_fingerprint;           // dataset_fingerprint(train)
  bool split = false;                      // val was held out of data.train
};

/// Scans (or splits) the datasets and logs what they hold. Throws DataError naming the path
/// when a dataset is unusable, the two have different classes, or fewer than 2 images train.
RunData load_run_data(const DataConfig& data, std::uint64_t seed, spdlog::logger& log);

/// data.cache "memory"'s image cache, shared by a run's epochs; null for "none".
std::unique_ptr<ImageCache> make_run_cache(const DataConfig& data);

/// The loader settings of a run's validation from the config: workers, batches, prefetch,
/// preprocessing, the bad-image policy, the memory layout and `cache` (null: none). Training
/// adds the augmentation, the seed and the epoch.
LoaderOptions run_loader_options(const Config& config, bool channels_last, ImageCache* cache);

/// train.class_weights for these images, on `device` (undefined for "none"), logged when set.
torch::Tensor run_class_weights(const nlohmann::json& setting, const RunData& data,
                                const torch::Device& device, spdlog::logger& log);

/// data.json: each dataset's path, image count and images per class. A split's parts are
/// named by the manifests in `run_dir` that hold them.
nlohmann::ordered_json data_summary(const RunData& data, const std::filesystem::path& run_dir);

}  // namespace ftl
