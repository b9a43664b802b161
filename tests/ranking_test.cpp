// best.pt and keep_top_k ranking, and early stopping, epoch by epoch.
#include "ftl/train/ranking.h"

#include <catch2/catch.hpp>

#include "ftl/train/early_stopping.h"

TEST_CASE("ranking: best and top-k by accuracy, ties to the earlier epoch", "[ranking]") {
  ftl::CheckpointRanking ranking("val_acc", 2);
  auto update = ranking.add(1, 0.5);
  CHECK(update.new_best);
  CHECK(update.kept);
  update = ranking.add(2, 0.7);
  CHECK(update.new_best);
  CHECK(update.dropped.empty());
  update = ranking.add(3, 0.6);  // beats epoch 1: epoch 1 is dropped
  CHECK_FALSE(update.new_best);
  CHECK(update.kept);
  CHECK(update.dropped == std::vector<std::int64_t>{1});
  update = ranking.add(4, 0.7);  // ties epoch 2: not a new best, replaces epoch 3
  CHECK_FALSE(update.new_best);
  CHECK(update.dropped == std::vector<std::int64_t>{3});
  update = ranking.add(5, 0.1);  // worse than both: nothing written, nothing dropped
  CHECK_FALSE(update.kept);
  CHECK(update.dropped.empty());
  CHECK(ranking.best().epoch == 2);
  REQUIRE(ranking.kept().size() == 2);
  CHECK(ranking.kept()[0].epoch == 2);
  CHECK(ranking.kept()[1].epoch == 4);

  ftl::CheckpointRanking restored("val_acc", 2);
  restored.restore(ranking.to_json());
  CHECK(restored.to_json() == ranking.to_json());
  CHECK(restored.add(6, 0.65).dropped == std::vector<std::int64_t>{});
}

TEST_CASE("ranking: a loss ranks lower first and k = 0 keeps only the best", "[ranking]") {
  ftl::CheckpointRanking ranking("val_loss", 0);
  CHECK(ranking.add(1, 0.9).new_best);
  CHECK(ranking.add(2, 0.4).new_best);
  const auto update = ranking.add(3, 0.5);
  CHECK_FALSE(update.new_best);
  CHECK_FALSE(update.kept);
  CHECK(ranking.best().epoch == 2);
  CHECK(ranking.kept().empty());
}

TEST_CASE("early stopping: stops after patience epochs without an improvement > min_delta",
          "[ranking]") {
  ftl::EarlyStoppingConfig config;
  config.metric = "val_loss";
  config.patience = 2;
  config.min_delta = 0.05;
  ftl::EarlyStopping stopping(config);
  CHECK_FALSE(stopping.update(1, 1.0));
  CHECK_FALSE(stopping.update(2, 0.8));   // improved by 0.2
  CHECK_FALSE(stopping.update(3, 0.78));  // by 0.02 only: 1 bad epoch
  ftl::EarlyStopping resumed(config);
  resumed.restore(stopping.to_json());
  CHECK(resumed.update(4, 0.77));  // 2 bad epochs: stop
  CHECK(resumed.reason() ==
        "early stopping: val_loss did not improve by more than 0.05 for 2 epochs (best 0.8 at "
        "epoch 2)");

  config.patience = 0;  // off: counts, never stops
  ftl::EarlyStopping off(config);
  for (std::int64_t epoch = 1; epoch < 10; ++epoch) CHECK_FALSE(off.update(epoch, 1.0));
}

TEST_CASE("early stopping: accuracy must rise", "[ranking]") {
  ftl::EarlyStoppingConfig config;
  config.metric = "val_acc";
  config.patience = 1;
  ftl::EarlyStopping stopping(config);
  CHECK_FALSE(stopping.update(1, 0.5));
  CHECK_FALSE(stopping.update(2, 0.6));
  CHECK(stopping.update(3, 0.6));
}
