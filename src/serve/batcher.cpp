#include "ftl/serve/batcher.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "ftl/eval/inference_options.h"
#include "ftl/util/runtime.h"

namespace ftl {
namespace {

double seconds_between(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::vector<MakeInput> made_inputs(std::vector<torch::Tensor> inputs) {
  std::vector<MakeInput> makers;
  for (torch::Tensor& input : inputs) {
    makers.emplace_back([input = std::move(input)] { return input; });
  }
  return makers;
}

Batcher::Batcher(BatcherOptions options)
    : options_(std::move(options)), thread_([this] { loop(); }) {}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Batcher::Arrival::Arrival(Arrival&& other) noexcept
    : batcher_(std::exchange(other.batcher_, nullptr)) {}

Batcher::Arrival::~Arrival() {
  if (batcher_ != nullptr) batcher_->depart();
}

std::vector<std::future<torch::Tensor>> Batcher::Arrival::submit(
    const std::shared_ptr<const ServedModel>& model, std::vector<MakeInput> inputs) {
  if (batcher_ == nullptr) throw std::logic_error("an arrival submits once, and not once moved");
  std::vector<std::future<torch::Tensor>> results =
      batcher_->enqueue(model, std::move(inputs), /*arrived=*/true);
  batcher_ = nullptr;
  return results;
}

Batcher::Arrival Batcher::arrive() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++arriving_;
  return Arrival(*this);
}

void Batcher::depart() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --arriving_;
  }
  wake_.notify_all();
}

std::vector<std::future<torch::Tensor>> Batcher::submit(
    const std::shared_ptr<const ServedModel>& model, std::vector<MakeInput> inputs) {
  return enqueue(model, std::move(inputs), /*arrived=*/false);
}

std::vector<std::future<torch::Tensor>> Batcher::enqueue(
    const std::shared_ptr<const ServedModel>& model, std::vector<MakeInput> inputs, bool arrived) {
  std::vector<std::future<torch::Tensor>> results;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() + inputs.size() > options_.capacity) {
      throw QueueFull("the queue holds " + std::to_string(queue_.size()) + " of its " +
                      std::to_string(options_.capacity) + " images; " +
                      std::to_string(inputs.size()) + " more do not fit");
    }
    const auto now = std::chrono::steady_clock::now();
    for (MakeInput& input : inputs) {
      Pending pending{model, std::move(input), {}, now};
      results.push_back(pending.result.get_future());
      queue_.push_back(std::move(pending));
    }
    // In the same step as its images join the queue: a pass never sees the request neither
    // arriving nor queued, and so never starts without it for want of company.
    if (arrived) --arriving_;
  }
  wake_.notify_all();
  return results;
}

void Batcher::warm_up(const std::shared_ptr<const ServedModel>& model) {
  const std::int64_t side = model->checkpoint.metadata.preprocess.image_size;
  std::future<torch::Tensor> done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Pending pending{model,
                    [side] {
                      return torch::zeros({3, side, side});
                    },
                    {},
                    std::chrono::steady_clock::now(),
                    /*warm_up=*/true};
    done = pending.result.get_future();
    warm_ups_.push_back(std::move(pending));
  }
  wake_.notify_all();
  done.get();
}

std::size_t Batcher::depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

bool Batcher::full() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size() >= options_.capacity;
}

void Batcher::loop() {
  // LibTorch's thread count is per thread under OpenMP, and a new thread starts from
  // Debian's default of 1: the passes must run on the threads asked for.
  configure_compute_threads(options_.compute_threads);
  // The plain interpreter, as ftl predict runs: passes of every size from 1 to max_batch would
  // each make the profiling executor record and optimise again, for no gain on a CPU.
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);
  torch::NoGradGuard no_grad;
  for (;;) {
    std::vector<Pending> pass = next_pass();
    if (pass.empty()) return;
    run_pass(pass);
  }
}

std::vector<Batcher::Pending> Batcher::next_pass() {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait(lock, [this] { return stopping_ || !queue_.empty() || !warm_ups_.empty(); });
  std::vector<Pending> pass;
  if (queue_.empty() && warm_ups_.empty()) return pass;
  const auto max_batch = static_cast<std::size_t>(options_.max_batch);
  if (!queue_.empty()) {
    const auto deadline = queue_.front().queued + options_.max_delay;
    const bool for_arrivals = options_.wait == BatchWait::kArrivals;
    // Stopping runs what is queued at once: nothing more will come to fill the pass.
    wake_.wait_until(lock, deadline, [&] {
      return stopping_ || queue_.size() >= max_batch || !warm_ups_.empty() ||
             (for_arrivals && arriving_ == 0);
    });
  }
  // A warm-up goes first and alone: its caller (start-up, a reload) waits for it.
  if (!warm_ups_.empty()) {
    pass.push_back(std::move(warm_ups_.front()));
    warm_ups_.pop_front();
    return pass;
  }
  const ServedModel* model = queue_.front().model.get();
  while (!queue_.empty() && pass.size() < max_batch && queue_.front().model.get() == model) {
    pass.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return pass;
}

std::vector<torch::Tensor> Batcher::make_inputs(std::vector<Pending>& pass) {
  const auto count = static_cast<std::int64_t>(pass.size());
  std::vector<torch::Tensor> inputs(pass.size());
  std::vector<std::exception_ptr> failures(pass.size());
  // One image per task: the pass's workers share the images out, each decoding alone
  // (operations inside a parallel region run on the calling worker only).
  at::parallel_for(0, count, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const auto slot = static_cast<std::size_t>(i);
      try {
        inputs[slot] = pass[slot].make_input();
      } catch (...) {
        failures[slot] = std::current_exception();
      }
    }
  });
  std::vector<Pending> made;
  std::vector<torch::Tensor> ready;
  for (std::size_t i = 0; i < pass.size(); ++i) {
    if (failures[i]) {
      pass[i].result.set_exception(failures[i]);  // this image alone: the rest run
      continue;
    }
    made.push_back(std::move(pass[i]));
    ready.push_back(std::move(inputs[i]));
  }
  pass = std::move(made);
  return ready;
}

void Batcher::run_pass(std::vector<Pending>& pass) {
  const auto start = std::chrono::steady_clock::now();
  PassRecord record;
  for (const Pending& pending : pass) {
    record.queued_seconds.push_back(seconds_between(pending.queued, start));
  }
  const std::vector<torch::Tensor> inputs = make_inputs(pass);
  if (pass.empty()) return;  // every image failed: each is answered with its own exception
  const auto decoded = std::chrono::steady_clock::now();
  torch::Tensor probabilities;
  try {
    const ServedModel& model = *pass.front().model;
    torch::jit::Module module = model.network.module;  // a handle: the same network
    const InferenceAutocast autocast(model.network, model.device);
    probabilities = class_probabilities(module, torch::stack(inputs).to(model.device), options_.tta)
                        .to(torch::kCPU);
  } catch (...) {
    // The pass's failure is each of its images' answer; the server goes on.
    for (Pending& pending : pass) pending.result.set_exception(std::current_exception());
    return;
  }
  if (options_.on_pass && !pass.front().warm_up) {
    record.images = pass.size();
    record.decode_seconds = seconds_between(start, decoded);
    record.seconds = seconds_between(decoded, std::chrono::steady_clock::now());
    options_.on_pass(record);
  }
  for (std::size_t i = 0; i < pass.size(); ++i) {
    pass[i].result.set_value(probabilities[static_cast<std::int64_t>(i)]);
  }
}

}  // namespace ftl
