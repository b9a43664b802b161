#include "ftl/data/loader.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "ftl/image/image.h"
#include "ftl/util/errors.h"
#include "ftl/util/random.h"
#include "ftl/util/runtime.h"

namespace ftl {
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::int64_t epoch) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(
      mix64(seed ^ mix64(static_cast<std::uint64_t>(epoch))));
  const torch::Tensor permutation = torch::randperm(static_cast<std::int64_t>(n), generator,
                                                    torch::TensorOptions().dtype(torch::kInt64));
  const auto* values = permutation.data_ptr<std::int64_t>();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::size_t>(values[i]);
  return order;
}

std::vector<std::size_t> identity_order(std::size_t n) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  return order;
}

namespace {

std::size_t checked_batch_size(const LoaderOptions& options) {
  if (options.batch_size < 1 || options.workers < 1) {
    throw std::invalid_argument("BatchLoader needs batch_size >= 1 and workers >= 1, got " +
                                std::to_string(options.batch_size) + " and " +
                                std::to_string(options.workers));
  }
  return static_cast<std::size_t>(options.batch_size);
}

}  // namespace

BatchLoader::BatchLoader(const std::vector<Sample>& samples, std::vector<std::size_t> order,
                         const LoaderOptions& options)
    : samples_(samples),
      order_(std::move(order)),
      options_(options),
      num_batches_((order_.size() + checked_batch_size(options) - 1) / checked_batch_size(options)),
      capacity_(
          static_cast<std::size_t>(options.prefetch > 0 ? options.prefetch : 2 * options.workers)) {
  const auto workers = static_cast<std::size_t>(options.workers);
  try {
    for (std::size_t i = 0; i < std::min(workers, num_batches_); ++i) {
      workers_.emplace_back([this] { work(); });
    }
  } catch (...) {
    stop_workers();  // joinable threads must not be destroyed
    throw;
  }
}

BatchLoader::~BatchLoader() { stop_workers(); }

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

bool BatchLoader::next(Batch& batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_deliver_ == num_batches_) return false;
  changed_.wait(
      lock, [this] { return ready_.count(next_deliver_) > 0 || failed_.count(next_deliver_) > 0; });
  auto failed = failed_.find(next_deliver_);
  if (failed != failed_.end()) std::rethrow_exception(failed->second);
  auto found = ready_.find(next_deliver_);
  batch = std::move(found->second);
  ready_.erase(found);
  ++next_deliver_;
  lock.unlock();
  changed_.notify_all();  // a slot is free: a waiting worker may claim the next batch
  return true;
}

std::size_t BatchLoader::peak_in_flight() {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_in_flight_;
}

void BatchLoader::work() {
  // The cores' OpenMP workers are the training step's: a team of this thread's own would make
  // libgomp stop spinning between the step's parallel regions.
  keep_compute_on_this_thread();
  for (;;) {
    std::size_t batch_index = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] {
        return stopping_ || next_claim_ == num_batches_ || next_claim_ < next_deliver_ + capacity_;
      });
      if (stopping_ || next_claim_ == num_batches_) return;
      batch_index = next_claim_++;
      peak_in_flight_ = std::max(peak_in_flight_, next_claim_ - next_deliver_);
    }
    try {
      Batch batch = build(batch_index);
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(batch_index, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      failed_.emplace(batch_index, std::current_exception());
    }
    changed_.notify_all();
  }
}

std::shared_ptr<const Image> BatchLoader::base_of(std::size_t sample_index) const {
  ImageCache* cache = options_.cache;
  const std::filesystem::path& path = samples_[sample_index].path;
  if (cache != nullptr) {
    std::shared_ptr<const Image> cached = cache->find(path);
    if (cached) return cached;
  }
  const Preprocess& preprocess = options_.preprocess;
  Image decoded = read_image(path, decode_options(preprocess));  // its errors name the path
  std::shared_ptr<const Image> base;
  try {
    base = std::make_shared<const Image>(base_image(std::move(decoded), preprocess));
  } catch (const DataError& error) {
    throw DataError(path.string() + ": " + error.what());
  }
  if (cache != nullptr) cache->insert(path, base);
  return base;
}

Batch BatchLoader::build(std::size_t batch_index) const {
  const auto batch_size = static_cast<std::size_t>(options_.batch_size);
  const std::size_t begin = batch_index * batch_size;
  const std::size_t end = std::min(begin + batch_size, order_.size());
  const auto count = static_cast<std::int64_t>(end - begin);
  const std::int64_t side = options_.preprocess.image_size;

  Batch batch;
  // Each image is written through a view of its slot: in NHWC that is a plain copy of the
  // decoded HWC pixels, so channels last costs nothing here.
  batch.images =
      torch::empty({count, 3, side, side},
                   torch::TensorOptions(torch::kFloat32)
                       .memory_format(options_.channels_last ? torch::MemoryFormat::ChannelsLast
                                                             : torch::MemoryFormat::Contiguous));
  batch.labels = torch::empty({count}, torch::kInt64);
  auto* labels = batch.labels.data_ptr<std::int64_t>();
  std::int64_t slot = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const std::size_t index = order_[i];
    std::shared_ptr<const Image> base;
    try {
      base = base_of(index);
    } catch (const DataError& error) {
      if (!options_.skip_bad_images) throw;
      batch.bad.push_back({index, image_error_reason(error.what(), samples_[index].path)});
      continue;
    }
    if (options_.augment.enabled) {
      augment_into(*base, options_.preprocess, options_.augment,
                   augment_seed(options_.seed, options_.epoch, index), batch.images[slot]);
    } else {
      eval_into(*base, options_.preprocess, batch.images[slot]);
    }
    labels[slot] = samples_[index].label;
    batch.indices.push_back(index);
    ++slot;
  }
  if (slot < count) {  // some images were left out
    batch.images = batch.images.narrow(/*dim=*/0, /*start=*/0, slot);
    batch.labels = batch.labels.narrow(/*dim=*/0, /*start=*/0, slot);
  }
  return batch;
}

}  // namespace ftl
