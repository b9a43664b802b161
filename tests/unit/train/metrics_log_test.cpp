// metrics.jsonl and metrics.csv: one line and one row per epoch, flushed as each epoch ends,
// and cut back to the epochs of the checkpoint a run resumes from.
#include "ftl/train/metrics_log.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"

TEST_CASE("metrics log: one JSON line and one CSV row per epoch", "[metrics]") {
  ftl::testing::TempDir dir;
  {
    ftl::MetricsLog log(dir.path());
    ftl::EpochMetrics m;
    m.epoch = 1;
    m.train_loss = 0.5;
    m.val_acc = 0.75;
    log.append(m);
    m.epoch = 2;
    log.append(m);
    // Flushed as each epoch ends: readable before the log is closed.
    std::ifstream jsonl(dir / "metrics.jsonl");
    std::string first;
    std::getline(jsonl, first);
    const auto line = nlohmann::json::parse(first);
    CHECK(line["epoch"] == 1);
    CHECK(line["train_loss"] == 0.5);
    CHECK(line["val_acc"] == 0.75);
    for (const char* key : {"train_acc", "val_loss", "lr", "seconds", "images_per_s"}) {
      CHECK(line.contains(key));
    }
  }
  std::ifstream csv(dir / "metrics.csv");
  std::string header;
  std::string row;
  std::getline(csv, header);
  CHECK(header ==
        "epoch,train_loss,train_acc,val_loss,val_acc,lr,lr_end,seconds,images_per_s,stop");
  std::getline(csv, row);
  CHECK(row.rfind("1,0.5,", 0) == 0);
  std::getline(csv, row);
  CHECK(row.rfind("2,", 0) == 0);
}

TEST_CASE("metrics log: a resumed run keeps the epochs its checkpoint has done", "[metrics]") {
  ftl::testing::TempDir dir;
  {
    ftl::MetricsLog log(dir.path());
    ftl::EpochMetrics m;
    for (m.epoch = 1; m.epoch <= 3; ++m.epoch) {
      m.stop = m.epoch == 3 ? "completed" : "";
      log.append(m);
    }
  }
  {
    // The checkpoint has 2 epochs: line 3 came from an epoch whose checkpoint never landed.
    ftl::MetricsLog resumed(dir.path(), 2);
    REQUIRE(resumed.lines().size() == 2);
    ftl::EpochMetrics m;
    m.epoch = 3;
    m.train_loss = 0.25;
    resumed.append(m);
  }
  std::ifstream jsonl(dir / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(jsonl, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 3);
  CHECK(lines[2]["train_loss"] == 0.25);
  std::ifstream csv(dir / "metrics.csv");
  std::string row;
  int rows = 0;
  while (std::getline(csv, row)) ++rows;
  CHECK(rows == 4);  // header + 3 epochs

  REQUIRE_THROWS_WITH(ftl::MetricsLog(dir.path(), 5),
                      (dir / "metrics.jsonl").string() +
                          ": holds 3 epochs, but the checkpoint to resume from has done 5");
}
