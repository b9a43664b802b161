// Dynamic batching: the images of concurrent requests are run through the network together.
// A forward pass takes up to max_batch queued images, and starts when it has them or when the
// oldest has waited max_delay, whichever comes first. One thread runs every pass, warm-ups
// included, so the network is only ever called from one thread: under OpenMP each calling
// thread keeps its own team of workers, and with more workers than cores libgomp stops
// spinning between parallel regions, which made a pass 1.3x-1.6x slower. Each image's answer
// is a future.
#pragma once

#include <torch/script.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ftl/eval/class_scores.h"
#include "ftl/serve/served_model.h"
#include "ftl/util/errors.h"

namespace ftl {

/// The queue holds as many images as it may: the request is refused (503), not queued.
class QueueFull : public Error {
 public:
  using Error::Error;
};

struct BatcherOptions {
  std::int64_t max_batch = 16;                       // images per forward pass at most
  std::chrono::microseconds max_delay{5000};         // the oldest image's wait for others
  std::size_t capacity = 256;                        // images queued at most
  Tta tta = Tta::kNone;                              // test-time augmentation of each pass
  std::int64_t compute_threads = 0;                  // of the passes; 0 = available cores
  std::function<void(std::size_t images)> on_batch;  // told the size of each pass (metrics)
};

class Batcher {
 public:
  explicit Batcher(BatcherOptions options);
  /// Runs what is queued, then stops its thread.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  /// Queues network inputs [3, S, S] prepared for `model` and returns one future per input:
  /// its probabilities [classes] on the CPU, or the pass's exception. All or none are queued:
  /// QueueFull when they do not fit. Images prepared for different models never share a
  /// pass, so a reload in between answers each with the model that prepared it.
  std::vector<std::future<torch::Tensor>> submit(const std::shared_ptr<const ServedModel>& model,
                                                 std::vector<torch::Tensor> inputs);

  /// Runs one blank image through `model` on the pass thread, ahead of the queue and alone,
  /// and waits for it: the first request does not pay for LibTorch's first call, and a network
  /// that fails to run is refused (its exception rethrown) before it serves. Not counted by
  /// on_batch, depth() or full(), and not refused when the queue is full.
  void warm_up(const std::shared_ptr<const ServedModel>& model);

  /// Images queued and not yet in a pass.
  std::size_t depth() const;
  /// True when not one more image fits.
  bool full() const;

 private:
  struct Pending {
    std::shared_ptr<const ServedModel> model;
    torch::Tensor input;
    std::promise<torch::Tensor> result;
    std::chrono::steady_clock::time_point queued;
    bool warm_up = false;  // a blank image of warm_up(): its pass runs at once, uncounted
  };

  void loop();
  // Waits for the next pass's images; empty only when stopping with nothing queued.
  std::vector<Pending> next_pass();
  void run_pass(std::vector<Pending>& pass);

  BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::deque<Pending> warm_ups_;  // apart from the queue: never counted against its capacity
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace ftl
