#include "ftl/data/image_cache.h"

#include <utility>

namespace ftl {

std::shared_ptr<const Image> ImageCache::find(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = images_.find(path.string());
  if (found == images_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  return found->second;
}

void ImageCache::insert(const std::filesystem::path& path, std::shared_ptr<const Image> image) {
  const std::uint64_t bytes = image->pixels.size();
  std::lock_guard<std::mutex> lock(mutex_);
  if (images_.count(path.string()) > 0) return;  // another worker decoded it too
  if (stats_.bytes + bytes > max_bytes_) {
    ++stats_.refused;
    return;
  }
  images_.emplace(path.string(), std::move(image));
  stats_.bytes += bytes;
  ++stats_.images;
}

CacheStats ImageCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace ftl
