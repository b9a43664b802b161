// Base images (decoded, turned upright and resized, in 8 bits: preprocess.h) kept in memory
// across epochs, so that only the first epoch pays for decoding. Random augmentation is
// applied after the cache, so caching never changes what the model sees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ftl/image/image.h"

namespace ftl {

struct CacheStats {
  std::size_t images = 0;     // held now
  std::uint64_t bytes = 0;    // pixel bytes held now
  std::uint64_t hits = 0;     // lookups answered from memory
  std::uint64_t misses = 0;   // lookups that had to decode
  std::uint64_t refused = 0;  // images not kept because the budget was spent
};

/// Keyed by file path, so the training and validation sets share one budget; thread-safe.
/// Once the budget is spent, further images are not kept (no eviction: evicting in a loop that
/// visits everything once per epoch would only churn). One cache serves one preprocessing.
class ImageCache {
 public:
  explicit ImageCache(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  /// The cached image of a file, or null (counted as a miss).
  std::shared_ptr<const Image> find(const std::filesystem::path& path);

  /// Keeps an image if the budget allows.
  void insert(const std::filesystem::path& path, std::shared_ptr<const Image> image);

  CacheStats stats() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const Image>> images_;
  const std::uint64_t max_bytes_;
  CacheStats stats_;
};

}  // namespace ftl
