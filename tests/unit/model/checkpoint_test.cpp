#include "ftl/model/checkpoint.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "support/common.h"
#include "support/samples.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using ftl::testing::read_file;
using ftl::testing::sample_metadata;

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
