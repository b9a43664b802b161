// best.pt and keep_top_k ranking, epoch by epoch.
#include "ftl/train/ranking.h"

#include <catch2/catch.hpp>

TEST_CASE("ranking: best and top-k by accuracy, ties to the earlier epoch", "[ranking]") {
  ftl::CheckpointRanking ranking(ftl::Metric::kValAcc, 2);
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

  ftl::CheckpointRanking restored(ftl::Metric::kValAcc, 2);
  restored.restore(ranking.to_json());
  CHECK(restored.to_json() == ranking.to_json());
  CHECK(restored.add(6, 0.65).dropped == std::vector<std::int64_t>{});
}

TEST_CASE("ranking: a loss ranks lower first and k = 0 keeps only the best", "[ranking]") {
  ftl::CheckpointRanking ranking(ftl::Metric::kValLoss, 0);
  CHECK(ranking.add(1, 0.9).new_best);
  CHECK(ranking.add(2, 0.4).new_best);
  const auto update = ranking.add(3, 0.5);
  CHECK_FALSE(update.new_best);
  CHECK_FALSE(update.kept);
  CHECK(ranking.best().epoch == 2);
  CHECK(ranking.kept().empty());
}
