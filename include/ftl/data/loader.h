// Background batch preparation: worker threads decode and preprocess the images of upcoming
// batches while the model trains on the current one. Batches come out in order, so a run is
// reproducible whatever the number of workers, and at most `prefetch` of them are held in memory.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ftl/data/dataset.h"
#include "ftl/data/image_cache.h"
#include "ftl/image/augment.h"
#include "ftl/image/preprocess.h"

namespace ftl {

/// An image that could not be used, and why.
struct BadImage {
  std::size_t index = 0;  // position in the sample list
  std::string reason;     // the decoder's reason, without the path (e.g. "truncated PNG data")
};

struct Batch {
  torch::Tensor images;              // float [n, 3, image_size, image_size]
  torch::Tensor labels;              // int64 [n]
  std::vector<std::size_t> indices;  // positions of the images in the sample list
  std::vector<BadImage> bad;         // with skip_bad_images: the images left out of this batch
};

struct LoaderOptions {
  std::int64_t batch_size = 32;  // images per batch; the last batch may be smaller
  Preprocess preprocess;         // applied to every image
  Augment augment;               // enabled: random training transform instead of eval's
  std::uint64_t seed = 0;        // with epoch and the sample's index, seeds its augmentation
  std::int64_t epoch = 0;
  ImageCache* cache = nullptr;   // base images kept across loaders (not owned); null = none
  std::int64_t workers = 1;      // decoding threads (>= 1)
  std::int64_t prefetch = 0;     // batches ready or in progress at most; 0 = 2 x workers
  bool channels_last = false;    // batches in NHWC memory layout (the shape stays NCHW), which
                                 // convolutions on CPU run faster on (see compute_mode.h)
  bool skip_bad_images = false;  // an image that fails to decode is left out of its batch and
                                 // listed in Batch::bad, instead of failing the batch
};

/// The visiting order of one training epoch: a permutation of [0, n) that depends only on
/// (seed, epoch), so an epoch's order can be recomputed without replaying earlier epochs.
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::int64_t epoch);

/// 0, 1, ..., n-1: the order for evaluation.
std::vector<std::size_t> identity_order(std::size_t n);

class BatchLoader {
 public:
  /// `samples` must outlive the loader. Batches follow `order`. Throws std::invalid_argument
  /// when batch_size or workers is below 1.
  BatchLoader(const std::vector<Sample>& samples, std::vector<std::size_t> order,
              const LoaderOptions& options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// Fills `batch` with the next batch and returns true, or returns false after the last one.
  /// A batch that failed (a DataError naming the image) is rethrown when its turn comes, so
  /// the error reported is the first in visiting order, whatever the number of workers.
  bool next(Batch& batch);

  std::size_t num_batches() const { return num_batches_; }

  /// The most batches that were claimed by workers but not yet returned by next() at once:
  /// the memory bound in practice (never above `prefetch`), and how far ahead decoding ran.
  std::size_t peak_in_flight();

 private:
  void work();
  void stop_workers();
  Batch build(std::size_t batch_index) const;
  std::shared_ptr<const Image> base_of(std::size_t sample_index) const;

  const std::vector<Sample>& samples_;
  const std::vector<std::size_t> order_;
  const LoaderOptions options_;
  const std::size_t num_batches_;
  const std::size_t capacity_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t next_claim_ = 0;    // next batch a worker will build
  std::size_t next_deliver_ = 0;  // next batch next() returns
  std::size_t peak_in_flight_ = 0;
  std::map<std::size_t, Batch> ready_;
  std::map<std::size_t, std::exception_ptr> failed_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace ftl
