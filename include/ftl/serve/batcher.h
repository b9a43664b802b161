// Dynamic batching: the images of concurrent requests are run through the network together.
// A forward pass takes up to max_batch queued images, and starts when it has them, when the
// oldest has waited max_delay, or (BatchWait::kArrivals) when no other request is on its way:
// a lone request then never waits for company that is not coming, while the requests that
// arrive during a pass are still gathered into the next. One thread runs every pass, warm-ups
// included, so the network is only ever called from one thread: under OpenMP each calling
// thread keeps its own team of workers, and with more workers than cores libgomp stops
// spinning between parallel regions, which made a pass 1.3x-1.6x slower. The same thread makes
// each pass's inputs (decodes its images) just before the pass, in parallel on the same
// workers: decoding on the connections' threads had preempted the pass's workers, so that a
// pass of 4 bf16 images took 25 ms under load against 11 ms alone. Each image's answer is a
// future.
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
#include "ftl/serve/serve_metrics.h"
#include "ftl/serve/serve_options.h"
#include "ftl/serve/served_model.h"
#include "ftl/util/errors.h"

namespace ftl {

/// The queue holds as many images as it may: the request is refused (503), not queued.
class QueueFull : public Error {
 public:
  using Error::Error;
};

/// Makes one network input [3, S, S], on the pass thread: decodes and prepares an image.
/// It may throw (a corrupt image): that image's future holds the exception, and the other
/// images of its pass run without it.
using MakeInput = std::function<torch::Tensor()>;

/// Inputs already made: each one's MakeInput returns it.
std::vector<MakeInput> made_inputs(std::vector<torch::Tensor> inputs);

struct BatcherOptions {
  std::int64_t max_batch = 16;                     // images per forward pass at most
  std::chrono::microseconds max_delay{5000};       // the oldest image's wait for others
  BatchWait wait = BatchWait::kArrivals;           // what that wait is for
  std::size_t capacity = 256;                      // images queued at most
  Tta tta = Tta::kNone;                            // test-time augmentation of each pass
  std::int64_t compute_threads = 0;                // of the passes; 0 = available cores
  std::function<void(const PassRecord&)> on_pass;  // told of each pass (metrics)
};

class Batcher {
 public:
  /// A request on its way to the queue, from arrive() until it submits its images or ends
  /// without any (nothing to queue, refused): under BatchWait::kArrivals a pass short of
  /// max_batch waits for it, up to max_delay. It must not outlive its Batcher, and submits once.
  class Arrival {
   public:
    Arrival(Arrival&& other) noexcept;
    Arrival& operator=(Arrival&&) = delete;
    Arrival(const Arrival&) = delete;
    Arrival& operator=(const Arrival&) = delete;
    /// Gives up the request's place when it submitted nothing.
    ~Arrival();
    /// Batcher::submit, and the request is no longer on its way (QueueFull leaves it so).
    std::vector<std::future<torch::Tensor>> submit(const std::shared_ptr<const ServedModel>& model,
                                                   std::vector<MakeInput> inputs);

   private:
    friend class Batcher;
    explicit Arrival(Batcher& batcher) : batcher_(&batcher) {}
    Batcher* batcher_;  // null once submitted or moved from
  };

  explicit Batcher(BatcherOptions options);
  /// Runs what is queued, then stops its thread.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  /// Queues images for `model`, each as the function that makes its network input [3, S, S]
  /// on the pass thread, and returns one future per image: its probabilities [classes] on the
  /// CPU, or the exception of its input or of its pass. All or none are queued: QueueFull when
  /// they do not fit. Images queued for different models never share a pass, so a reload in
  /// between answers each with the model its request found. The functions run before
  /// their futures are ready, and never after: what they read must live until then.
  std::vector<std::future<torch::Tensor>> submit(const std::shared_ptr<const ServedModel>& model,
                                                 std::vector<MakeInput> inputs);

  /// A request has arrived and will submit its images once it has read them.
  Arrival arrive();

  /// Runs one blank image through `model` on the pass thread, ahead of the queue and alone,
  /// and waits for it: the first request does not pay for LibTorch's first call, and a network
  /// that fails to run is refused (its exception rethrown) before it serves. Not counted by
  /// on_pass, depth() or full(), and not refused when the queue is full.
  void warm_up(const std::shared_ptr<const ServedModel>& model);

  /// Images queued and not yet in a pass.
  std::size_t depth() const;
  /// True when not one more image fits.
  bool full() const;

 private:
  struct Pending {
    std::shared_ptr<const ServedModel> model;
    MakeInput make_input;
    std::promise<torch::Tensor> result;
    std::chrono::steady_clock::time_point queued;
    bool warm_up = false;  // a blank image of warm_up(): its pass runs at once, uncounted
  };

  // Queues the inputs (all or none, QueueFull) and, when `arrived`, ends one arrival.
  std::vector<std::future<torch::Tensor>> enqueue(const std::shared_ptr<const ServedModel>& model,
                                                  std::vector<MakeInput> inputs, bool arrived);
  void depart();  // an arrival that submitted nothing
  void loop();
  // Waits for the next pass's images; empty only when stopping with nothing queued.
  std::vector<Pending> next_pass();
  // Makes the pass's inputs on the pass's threads; an image whose input fails is answered
  // with its exception and leaves the pass.
  std::vector<torch::Tensor> make_inputs(std::vector<Pending>& pass);
  void run_pass(std::vector<Pending>& pass);

  BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::deque<Pending> warm_ups_;  // apart from the queue: never counted against its capacity
  std::size_t arriving_ = 0;      // requests that arrived and have not yet submitted
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace ftl
