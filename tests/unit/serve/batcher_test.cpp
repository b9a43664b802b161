#include "ftl/serve/batcher.h"

#include <catch2/catch.hpp>
#include <mutex>
#include <string>
#include <thread>

#include "support/tiny_net.h"

using ftl::testing::kTinyNetSide;

namespace {

std::shared_ptr<const ftl::ServedModel> tiny_model(std::uint64_t seed) {
  auto model = std::make_shared<ftl::ServedModel>();
  model->checkpoint.module = ftl::testing::tiny_net(3, seed);
  model->network.module = model->checkpoint.module;  // as loaded: the batcher runs it
  model->checkpoint.metadata.classes = {"cat", "dog", "emu"};
  model->checkpoint.metadata.preprocess.image_size = kTinyNetSide;
  return model;
}

std::vector<torch::Tensor> tensors(int count) {
  std::vector<torch::Tensor> out;
  for (int i = 0; i < count; ++i) out.push_back(torch::randn({3, kTinyNetSide, kTinyNetSide}));
  return out;
}

std::vector<ftl::MakeInput> inputs(int count) { return ftl::made_inputs(tensors(count)); }

struct Passes {
  std::mutex mutex;
  std::vector<ftl::PassRecord> records;
  std::function<void(const ftl::PassRecord&)> recorder() {
    return [this](const ftl::PassRecord& record) {
      std::lock_guard<std::mutex> lock(mutex);
      records.push_back(record);
    };
  }
  // The images of each pass, in order.
  std::vector<std::size_t> sizes() {
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::size_t> out;
    for (const ftl::PassRecord& record : records) out.push_back(record.images);
    return out;
  }
};

}  // namespace

TEST_CASE("batcher: images queued within max_delay share one pass of at most max_batch",
          "[batcher]") {
  torch::manual_seed(1);
  Passes passes;
  const auto model = tiny_model(2);
  std::vector<torch::Tensor> queued = tensors(5);
  std::vector<std::future<torch::Tensor>> results;
  {
    ftl::Batcher batcher({/*max_batch=*/4, std::chrono::milliseconds(500), ftl::BatchWait::kDelay,
                          64, ftl::Tta::kNone,
                          /*compute_threads=*/2, passes.recorder()});
    // Three "requests" of 2, 2 and 1 images, well within the 500 ms the first one waits.
    for (int request = 0; request < 3; ++request) {
      std::vector<torch::Tensor> part(queued.begin() + request * 2,
                                      queued.begin() + std::min(5, request * 2 + 2));
      for (auto& future : batcher.submit(model, ftl::made_inputs(part))) {
        results.push_back(std::move(future));
      }
    }
    for (auto& future : results) future.wait();
  }
  CHECK(passes.sizes() == std::vector<std::size_t>{4, 1});
  // Each answer is that image's softmax, whatever shared its pass.
  torch::NoGradGuard no_grad;
  torch::jit::Module net = model->checkpoint.module;
  const torch::Tensor expected = net.forward({torch::stack(queued)}).toTensor().softmax(1);
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(torch::allclose(results[i].get(), expected[static_cast<std::int64_t>(i)], 0, 1e-6));
  }
}

TEST_CASE("batcher: a full queue refuses the whole request", "[batcher]") {
  ftl::Batcher batcher({16,
                        std::chrono::milliseconds(300),
                        ftl::BatchWait::kDelay,
                        /*capacity=*/3,
                        ftl::Tta::kNone,
                        /*compute_threads=*/2,
                        {}});
  const auto model = tiny_model(0);
  std::vector<std::future<torch::Tensor>> first = batcher.submit(model, inputs(2));
  CHECK(batcher.depth() == 2);
  CHECK_FALSE(batcher.full());
  CHECK_THROWS_WITH(batcher.submit(model, inputs(2)),
                    "the queue holds 2 of its 3 images; 2 more do not fit");
  CHECK(batcher.depth() == 2);  // nothing of the refused request was queued
  for (auto& future : first) CHECK(future.get().size(0) == 3);
  CHECK(batcher.depth() == 0);
}

TEST_CASE("batcher: images prepared for two models never share a pass", "[batcher]") {
  Passes passes;
  {
    ftl::Batcher batcher({16, std::chrono::milliseconds(200), ftl::BatchWait::kDelay, 64,
                          ftl::Tta::kNone,
                          /*compute_threads=*/2, passes.recorder()});
    auto old_answers = batcher.submit(tiny_model(0), inputs(2));
    auto new_answers = batcher.submit(tiny_model(1), inputs(3));
    for (auto& future : new_answers) future.wait();
  }
  CHECK(passes.sizes() == std::vector<std::size_t>{2, 3});
  // What /metrics is told: each image's wait (the first pass's two waited out the 200 ms
  // delay) and each pass's time.
  REQUIRE(passes.records.size() == 2);
  const ftl::PassRecord& first = passes.records[0];
  REQUIRE(first.queued_seconds.size() == 2);
  for (const double waited : first.queued_seconds) {
    CHECK(waited >= 0.19);
    CHECK(waited < 10);
  }
  CHECK(passes.records[1].queued_seconds.size() == 3);
  CHECK(first.seconds > 0);
  CHECK(first.seconds < 10);
}

TEST_CASE("batcher: stopping runs what is queued without waiting out the delay", "[batcher]") {
  std::vector<std::future<torch::Tensor>> results;
  const auto start = std::chrono::steady_clock::now();
  {
    ftl::Batcher batcher({16,
                          std::chrono::seconds(30),
                          ftl::BatchWait::kDelay,
                          64,
                          ftl::Tta::kNone,
                          /*compute_threads=*/2,
                          {}});
    results = batcher.submit(tiny_model(0), inputs(2));
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  for (auto& future : results) CHECK(future.get().size(0) == 3);
}

TEST_CASE("batcher: a warm-up runs alone ahead of the queue, uncounted, and rethrows",
          "[batcher]") {
  Passes passes;
  const auto model = tiny_model(0);
  ftl::Batcher batcher({16, std::chrono::seconds(30), ftl::BatchWait::kDelay, /*capacity=*/2,
                        ftl::Tta::kNone,
                        /*compute_threads=*/2, passes.recorder()});
  std::vector<std::future<torch::Tensor>> queued = batcher.submit(model, inputs(2));
  REQUIRE(batcher.full());
  // Neither the full queue nor the 30 s the queued images wait holds the warm-up back.
  const auto start = std::chrono::steady_clock::now();
  batcher.warm_up(tiny_model(1));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(batcher.depth() == 2);
  CHECK(passes.sizes().empty());
  // A network that cannot run on its image side is refused by the warm-up's exception.
  auto broken = std::make_shared<ftl::ServedModel>(*tiny_model(2));
  broken->checkpoint.metadata.preprocess.image_size = 1;
  CHECK_THROWS(batcher.warm_up(broken));
}

TEST_CASE(
    "batcher: waiting for arrivals, a lone image runs at once and an arriving request "
    "is waited for",
    "[batcher]") {
  Passes passes;
  const auto model = tiny_model(0);
  std::vector<std::future<torch::Tensor>> alone, queued, arrived;
  {
    ftl::Batcher batcher({16, std::chrono::seconds(30), ftl::BatchWait::kArrivals, 64,
                          ftl::Tta::kNone, /*compute_threads=*/2, passes.recorder()});
    // Nothing else is on its way, so the pass does not wait out its 30 s.
    const auto start = std::chrono::steady_clock::now();
    alone = batcher.submit(model, inputs(1));
    alone[0].wait();
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    // A request is being decoded: the queued image waits for it, and they share one pass.
    ftl::Batcher::Arrival arrival = batcher.arrive();
    queued = batcher.submit(model, inputs(1));
    CHECK(queued[0].wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
    arrived = arrival.submit(model, inputs(2));
    for (auto& future : arrived) future.wait();
  }
  CHECK(passes.sizes() == std::vector<std::size_t>{1, 3});
  CHECK(queued[0].get().size(0) == 3);
}

TEST_CASE("batcher: an arrival that submits nothing, or is refused, stops holding the pass",
          "[batcher]") {
  Passes passes;
  const auto model = tiny_model(0);
  ftl::Batcher batcher({16, std::chrono::seconds(30), ftl::BatchWait::kArrivals,
                        /*capacity=*/2, ftl::Tta::kNone, /*compute_threads=*/2, passes.recorder()});
  std::vector<std::future<torch::Tensor>> queued;
  {
    ftl::Batcher::Arrival all_bad = batcher.arrive();  // its images fail to decode
    ftl::Batcher::Arrival too_big = batcher.arrive();
    CHECK_THROWS_AS(too_big.submit(model, inputs(3)), ftl::QueueFull);
    queued = batcher.submit(model, inputs(1));
    CHECK(queued[0].wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
  }
  // Both ended without images: the queued one runs without waiting out its 30 s, alone.
  CHECK(queued[0].wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(queued[0].get().size(0) == 3);  // the three classes' probabilities
  CHECK(passes.sizes() == std::vector<std::size_t>{1});
}

TEST_CASE("batcher: inputs are made on the pass's threads, and a bad one fails alone",
          "[batcher]") {
  torch::manual_seed(3);
  Passes passes;
  const auto model = tiny_model(4);
  const std::vector<torch::Tensor> images = tensors(3);
  std::mutex made_mutex;
  std::vector<std::thread::id> made_on;
  std::vector<ftl::MakeInput> queued;
  for (int i = 0; i < 3; ++i) {
    queued.emplace_back([&, i] {
      {
        std::lock_guard<std::mutex> lock(made_mutex);
        made_on.push_back(std::this_thread::get_id());
      }
      if (i == 1) throw ftl::DataError("not a JPEG, PNG, BMP or PPM file");
      return images[static_cast<std::size_t>(i)];
    });
  }
  std::vector<std::future<torch::Tensor>> results;
  {
    ftl::Batcher batcher({16, std::chrono::seconds(30), ftl::BatchWait::kArrivals, 64,
                          ftl::Tta::kNone, /*compute_threads=*/2, passes.recorder()});
    results = batcher.submit(model, std::move(queued));
    for (auto& future : results) future.wait();
  }
  // Not one input was made on the thread that queued it.
  REQUIRE(made_on.size() == 3);
  for (const std::thread::id id : made_on) CHECK(id != std::this_thread::get_id());
  // The bad image's answer is its own exception; the other two ran in one pass of 2.
  CHECK_THROWS_WITH(results[1].get(), "not a JPEG, PNG, BMP or PPM file");
  torch::NoGradGuard no_grad;
  torch::jit::Module net = model->checkpoint.module;
  const torch::Tensor expected =
      net.forward({torch::stack({images[0], images[2]})}).toTensor().softmax(1);
  CHECK(torch::allclose(results[0].get(), expected[0], 0, 1e-6));
  CHECK(torch::allclose(results[2].get(), expected[1], 0, 1e-6));
  CHECK(passes.sizes() == std::vector<std::size_t>{2});
  std::lock_guard<std::mutex> lock(passes.mutex);
  REQUIRE(passes.records.size() == 1);
  CHECK(passes.records[0].queued_seconds.size() == 3);  // every image taken from the queue
  CHECK(passes.records[0].decode_seconds > 0);
  CHECK(passes.records[0].decode_seconds < 10);
}

TEST_CASE("batcher: a pass whose every input fails runs nothing and answers each", "[batcher]") {
  Passes passes;
  const auto model = tiny_model(0);
  std::vector<ftl::MakeInput> bad;
  for (int i = 0; i < 2; ++i) {
    bad.emplace_back(
        [i]() -> torch::Tensor { throw ftl::DataError("bad image " + std::to_string(i)); });
  }
  std::vector<std::future<torch::Tensor>> results, after;
  {
    ftl::Batcher batcher({16, std::chrono::seconds(30), ftl::BatchWait::kArrivals, 64,
                          ftl::Tta::kNone, /*compute_threads=*/2, passes.recorder()});
    results = batcher.submit(model, std::move(bad));
    for (auto& future : results) future.wait();
    // The pass thread goes on to the next pass.
    after = batcher.submit(model, inputs(1));
    after[0].wait();
  }
  CHECK_THROWS_WITH(results[0].get(), "bad image 0");
  CHECK_THROWS_WITH(results[1].get(), "bad image 1");
  CHECK(after[0].get().size(0) == 3);
  CHECK(passes.sizes() == std::vector<std::size_t>{1});
}
