#include "ftl/model/checkpoint.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "ftl/model/model.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using ftl::testing::read_file;

namespace {

const torch::Device kCpu(torch::kCPU);

ftl::CheckpointMetadata sample_metadata() {
  ftl::CheckpointMetadata metadata;
  metadata.classes = {"cat", "dog", "emu"};
  metadata.preprocess.image_size = 32;
  metadata.epoch = 2;
  metadata.metrics = {{"val_acc", 0.5}};
  metadata.config = {{"train", {{"epochs", 2}}}};
  return metadata;
}

// The ResNet-18 fixture with a 3-class head, as finetune prepares it.
ftl::LoadedModel three_class_model() {
  ftl::LoadedModel loaded = ftl::load_model(ftl::testing::kResNet18, kCpu);
  ftl::replace_head(loaded.module, 3, 1);
  return loaded;
}

// The 3-class network with sample_metadata(), saved to `path`; returns the file's bytes.
std::string write_sample_checkpoint(const fs::path& path) {
  ftl::LoadedModel loaded = three_class_model();
  ftl::save_checkpoint(loaded.module, sample_metadata(), path);
  return read_file(path);
}

}  // namespace

TEST_CASE("checkpoint: save then load keeps the network and the metadata", "[checkpoint]") {
  ftl::testing::TempDir dir;
  ftl::LoadedModel loaded = three_class_model();
  loaded.module.eval();
  const fs::path path = dir / "best.pt";
  ftl::save_checkpoint(loaded.module, sample_metadata(), path);
  // No temporary file is left behind.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

  const ftl::Checkpoint checkpoint = ftl::load_checkpoint(path, kCpu);
  CHECK(checkpoint.metadata.classes == std::vector<std::string>{"cat", "dog", "emu"});
  CHECK(checkpoint.metadata.preprocess.image_size == 32);
  CHECK(checkpoint.metadata.epoch == 2);
  CHECK(checkpoint.metadata.metrics["val_acc"] == 0.5);
  const auto input = torch::randn({2, 3, 32, 32});
  torch::jit::Module original = loaded.module;
  torch::jit::Module reloaded = checkpoint.module;
  CHECK(
      torch::allclose(original.forward({input}).toTensor(), reloaded.forward({input}).toTensor()));
}

TEST_CASE("checkpoint: a failed write leaves the previous file intact", "[checkpoint]") {
  ftl::testing::TempDir dir;
  const fs::path path = dir / "last.pt";
  ftl::write_file_atomic(path, "previous");
  // A folder cannot be written into once it is read-only (root ignores that, so use a path
  // whose folder does not exist instead, which fails the same code path).
  REQUIRE_THROWS_AS(ftl::write_file_atomic(dir / "gone/last.pt", "new"), ftl::IoError);
  REQUIRE_THROWS_WITH(ftl::write_file_atomic(dir / "gone/last.pt", "new"),
                      Contains((dir / "gone/last.pt").string()) && Contains("cannot create"));
  CHECK(read_file(path) == "previous");
}

TEST_CASE("checkpoint: a full disk fails the save and keeps the previous checkpoint",
          "[checkpoint]") {
  ftl::testing::TempDir dir;
  ftl::LoadedModel loaded = three_class_model();
  const fs::path path = dir / "last.pt";
  ftl::save_checkpoint(loaded.module, sample_metadata(), path);
  const std::string before = read_file(path);

  // A file-size limit makes write() fail with EFBIG, as a full disk fails it with ENOSPC.
  constexpr rlim_t kLimit = 1 << 20;
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = kLimit;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  ftl::CheckpointMetadata next = sample_metadata();
  next.epoch = 3;
  std::string error;
  try {
    ftl::save_checkpoint(loaded.module, next, path);
  } catch (const ftl::IoError& e) {
    error = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);

  CHECK_THAT(error, Contains(path.string()) && Contains("write failed: File too large"));
  CHECK(read_file(path) == before);
  CHECK(ftl::load_checkpoint(path, kCpu).metadata.epoch == 2);
  // The temporary file was removed.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("checkpoint: background writes run in order while the caller goes on",
          "[checkpoint][background_writer]") {
  std::promise<void> disk;  // the first job waits for it: a slow disk
  std::shared_future<void> released = disk.get_future().share();
  std::vector<int> done;
  std::mutex done_mutex;
  auto record = [&](int job) {
    std::lock_guard<std::mutex> lock(done_mutex);
    done.push_back(job);
  };
  std::promise<void> started;
  ftl::BackgroundWriter writer(/*max_queued=*/1);
  writer.add([&] {
    started.set_value();
    released.wait();
    record(1);
  });
  started.get_future().wait();     // the first job is running: the queue is empty
  writer.add([&] { record(2); });  // queued behind the running job: add() returns at once
  // A second queued job waits for room: add() blocks until the disk moves.
  std::future<void> third = std::async(std::launch::async, [&] { writer.add([&] { record(3); }); });
  CHECK(third.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
  {
    std::lock_guard<std::mutex> lock(done_mutex);
    CHECK(done.empty());
  }
  disk.set_value();
  third.get();
  writer.wait();
  CHECK(done == std::vector<int>{1, 2, 3});
}

TEST_CASE("checkpoint: a failed background write stops the jobs after it and is rethrown",
          "[checkpoint][background_writer]") {
  bool later_ran = false;
  ftl::BackgroundWriter writer;
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  writer.add([open] {
    open.wait();
    throw ftl::IoError("runs/a/checkpoints/last.pt: write failed: No space left on device");
  });
  writer.add([&] { later_ran = true; });
  gate.set_value();
  REQUIRE_THROWS_AS(writer.wait(), ftl::IoError);
  CHECK_FALSE(later_ran);
  CHECK_NOTHROW(writer.check());  // reported once
  writer.add([&] { later_ran = true; });
  writer.wait();
  CHECK(later_ran);

  SECTION("check() reports it without waiting, and the destructor runs what is queued") {
    ftl::testing::TempDir dir;
    {
      ftl::BackgroundWriter pending;
      pending.add([] { throw ftl::IoError("x: write failed: Input/output error"); });
      while (true) {
        try {
          pending.check();
        } catch (const ftl::IoError& error) {
          CHECK(std::string(error.what()) == "x: write failed: Input/output error");
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      pending.add([path = dir / "late.txt"] { ftl::write_file_atomic(path, "landed\n"); });
    }
    CHECK(read_file(dir / "late.txt") == "landed\n");
  }
}

TEST_CASE("checkpoint: truncated, foreign and mismatched files are refused", "[checkpoint]") {
  ftl::testing::TempDir dir;
  ftl::LoadedModel loaded = three_class_model();
  const fs::path good = dir / "good.pt";
  ftl::save_checkpoint(loaded.module, sample_metadata(), good);
  const std::string bytes = read_file(good);

  const fs::path truncated = dir / "truncated.pt";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  REQUIRE_THROWS_WITH(ftl::load_checkpoint(truncated, kCpu),
                      Contains(truncated.string() + ": damaged file: not a readable zip archive"));

  REQUIRE_THROWS_WITH(ftl::load_checkpoint(ftl::testing::kResNet18, kCpu),
                      Contains("not an ftl checkpoint (no ftl.json inside)"));
  REQUIRE_THROWS_WITH(ftl::load_checkpoint(dir / "none.pt", kCpu),
                      (dir / "none.pt").string() + ": no such checkpoint file");

  ftl::CheckpointMetadata wrong = sample_metadata();
  wrong.classes = {"a", "b"};
  const fs::path mismatched = dir / "mismatched.pt";
  ftl::save_checkpoint(loaded.module, wrong, mismatched);
  REQUIRE_THROWS_WITH(ftl::load_checkpoint(mismatched, kCpu),
                      Contains("fc outputs do not match the 2 classes"));
}

TEST_CASE("checkpoint: a flipped bit in the weights or the metadata is caught by its CRC-32",
          "[checkpoint][fault]") {
  ftl::testing::TempDir dir;
  const fs::path good = dir / "good.pt";
  const std::string bytes = write_sample_checkpoint(good);
  REQUIRE(ftl::load_checkpoint(good, kCpu).metadata.classes.size() == 3);

  // The middle of the file is inside a convolution's weights; "emu" is a class name in the
  // metadata. LibTorch's reader alone would load both and run them.
  const std::size_t in_weights = bytes.size() / 2;
  const std::size_t emu = bytes.find("\"emu\"");
  REQUIRE(emu != std::string::npos);
  const std::size_t in_metadata = emu + 2;  // 'm' becomes 'i': still valid JSON
  for (const std::size_t offset : {in_weights, in_metadata}) {
    std::string flipped = bytes;
    flipped[offset] = static_cast<char>(flipped[offset] ^ 0x04);
    const fs::path path = dir / ("flipped_" + std::to_string(offset) + ".pt");
    std::ofstream(path, std::ios::binary) << flipped;
    INFO("bit flipped at " << offset);
    REQUIRE_THROWS_AS(ftl::load_checkpoint(path, kCpu), ftl::ModelError);
    REQUIRE_THROWS_WITH(
        ftl::load_checkpoint(path, kCpu),
        Contains(path.string() + ": damaged file: entry '") && Contains("CRC error"));
  }
  // The same check guards the model a run starts from.
  std::string model = read_file(ftl::testing::kResNet18);
  model[model.size() / 2] = static_cast<char>(model[model.size() / 2] ^ 0x01);
  const fs::path model_path = dir / "flipped_model.pt";
  std::ofstream(model_path, std::ios::binary) << model;
  REQUIRE_THROWS_WITH(ftl::load_model(model_path.string(), kCpu),
                      Contains(model_path.string() + ": damaged file: entry '") &&
                          Contains("/data/") && Contains("CRC error"));
}

TEST_CASE("checkpoint: metadata is validated key by key", "[checkpoint]") {
  const nlohmann::json good = ftl::metadata_to_json(sample_metadata());
  CHECK(good["format"] == "ftl-checkpoint");
  CHECK(good["ftl_version"].is_string());
  CHECK(good["image_size"] == 32);
  CHECK(good["mean"].size() == 3);
  CHECK_NOTHROW(ftl::metadata_from_json(good, "x.pt"));
  nlohmann::json bad = good;
  bad["classes"] = nlohmann::json::array();
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"), "x.pt: ftl.json: classes is empty");
  bad = good;
  bad["classes"] = {"a", "a"};
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"),
                      "x.pt: ftl.json: classes holds a name twice");
  bad = good;
  bad["format_version"] = 99;
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"), Contains("upgrade ftl"));
  bad = good;
  bad.erase("epoch");
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"),
                      Contains("x.pt: ftl.json: ") && Contains("epoch"));
  // As strict as the config: no unknown keys, no values out of range or of the wrong kind.
  bad = good;
  bad["clases"] = {"a", "b"};
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"),
                      Contains("x.pt: ftl.json: 'clases' is not a known key (known: format,"));
  bad = good;
  bad["epoch"] = -1;
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"),
                      "x.pt: ftl.json: epoch must be >= 0, got -1");
  bad = good;
  bad["metrics"]["val_acc"] = "high";
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"),
                      "x.pt: ftl.json: metrics.val_acc is not a number");
  bad = good;
  bad["config"] = 3;
  REQUIRE_THROWS_WITH(ftl::metadata_from_json(bad, "x.pt"),
                      "x.pt: ftl.json: config is not an object");
  bad = good;
  bad["metrics"]["val_loss"] = nullptr;  // a loss that was not finite
  CHECK_NOTHROW(ftl::metadata_from_json(bad, "x.pt"));
  bad["metrics"] = nullptr;  // saved mid-epoch before the first epoch ended
  CHECK_NOTHROW(ftl::metadata_from_json(bad, "x.pt"));
}
