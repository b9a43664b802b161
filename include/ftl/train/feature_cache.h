// The frozen-backbone feature cache. When nothing before the head's block trains (every
// parameter outside it frozen, no BatchNorm, Dropout or stochastic depth outside it in training
// mode) and the training images are not augmented, the backbone maps each image to the same
// block input every epoch. It then runs once per image, and the block (the head with its
// Dropout, and MobileNetV3's, ConvNeXt's or VGG's other classifier layers) trains on those
// features, cut from the network by NetworkSplit: the same steps in the same order, at a small
// fraction of the cost. With train.feature_cache "disk" the vectors are also kept in a file,
// keyed by the backbone's weights, the compute settings, the preprocessing and every image
// file's path, size and modification time, and later runs with the same key read it back.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/data/dataset.h"
#include "ftl/data/loader.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/head.h"
#include "ftl/model/network_split.h"

namespace ftl {

struct CachedFeatures {
  // float32 [n, d] on the CPU ([n, c, h, w] where the block takes maps: SqueezeNet's, MaxViT's):
  // row i is sample i's, zeros if bad
  torch::Tensor features;
  std::vector<BadImage> bad;  // the images left out (data.on_bad_image "skip")
};

/// Why the network's inputs differ from epoch to epoch (augmentation, mixing), or "" when
/// every epoch sees the same images: the first obstacle to the cache.
std::string varying_inputs(const Config& config);

/// Why the cache cannot stand in for `model` as it is now (its training flags and frozen
/// parameters) with inputs that vary as `varying` says (varying_inputs), or "" when it can.
std::string feature_cache_obstacle(const torch::jit::Module& model, const Head& head,
                                   const std::string& varying);

/// Runs the backbone part of `split` over every image of `data` in order, without gradients,
/// and returns the head block's inputs. Checks on the first batch that the split's logits of
/// them are the network's own (the block in eval mode for both); throws ModelError when they
/// are not (a network whose forward draws random numbers of its own, say).
CachedFeatures extract_features(const torch::jit::Module& model, const NetworkSplit& split,
                                const Head& head, const ImageFolder& data,
                                const LoaderOptions& options, const torch::Device& device,
                                const ComputeMode& mode);

/// A 128-bit hash (hex) of the backbone's parameters and buffers (not the head block's).
std::string backbone_fingerprint(const torch::jit::Module& model, const Head& head);

/// One image's features as text: "512-d", or "512x13x13" for maps.
std::string feature_shape(const CachedFeatures& cached);

/// What cached features depend on besides the images: `backbone` (its fingerprint, or "" where
/// the features are not kept), the kind of `device` (cpu or cuda), and every option that the
/// option table marks as part of the feature-cache key (config.h, FeatureKey): those of the
/// preprocessing as preprocess_to_json records them, the others by the last part of their key.
nlohmann::json feature_cache_settings(const Config& config, const std::string& backbone,
                                      const torch::Device& device);

/// The cache key of one image set: a 128-bit hash (hex) of `settings` (feature_cache_settings)
/// and each image's absolute path, size and mtime.
std::string feature_cache_key(const ImageFolder& data, const nlohmann::json& settings);

/// train.feature_cache_dir "": $XDG_CACHE_HOME/ftl/features, else $HOME/.cache/ftl/features.
/// Throws ConfigError naming train.feature_cache_dir when neither variable is set.
std::filesystem::path default_feature_cache_dir();

/// Reads a cache file written by write_feature_file for `key` with `rows` rows. Throws
/// DataError naming the path when it is damaged, cut short, or holds another key or count.
CachedFeatures read_feature_file(const std::filesystem::path& path, const std::string& key,
                                 std::size_t rows);

/// Writes one atomically (the folder is created); IoError names the path on failure.
void write_feature_file(const std::filesystem::path& path, const std::string& key,
                        const CachedFeatures& cached);

/// Batches of cached features in a visiting order, as BatchLoader would give the images: the
/// same chunks of `batch_size`, with the bad images left out. Batch::images is [n, d].
class FeatureBatches {
 public:
  /// `cached` and `samples` must outlive this.
  FeatureBatches(const CachedFeatures& cached, const std::vector<Sample>& samples,
                 std::vector<std::size_t> order, std::int64_t batch_size,
                 const torch::Device& device);
  bool next(Batch& batch);

 private:
  const CachedFeatures& cached_;
  const std::vector<Sample>& samples_;
  const std::vector<std::size_t> order_;
  const std::size_t batch_size_;
  const torch::Device device_;
  std::vector<bool> usable_;
  std::size_t position_ = 0;
};

}  // namespace ftl
