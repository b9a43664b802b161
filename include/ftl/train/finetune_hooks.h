// What the caller of finetune sees of a run while it trains: progress after each step, the end
// of each epoch, and a polled request to stop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace ftl {

/// Where a training epoch stands, for a progress display.
struct BatchProgress {
  std::int64_t epoch = 0;  // 1-based
  std::int64_t epochs = 0;
  std::size_t batch = 0;  // batches done in this epoch
  std::size_t batches = 0;
  double loss = 0;  // mean training loss so far this epoch
};

struct FinetuneHooks {
  std::function<void(const BatchProgress&)> on_batch;  // called after each training step
  std::function<void()> on_epoch_end;                  // called before the epoch's log line
  /// Polled after every step (the last step of an epoch: once the epoch is validated and
  /// saved): a signal number asks the run to save last.pt with its resume state and throw
  /// Interrupted; 0 lets it go on.
  std::function<int()> stop_requested;
};

}  // namespace ftl
