// Each rank's share of an epoch, and validation totals summed over the ranks' shares.
#include "ftl/distributed/shard.h"

#include <catch2/catch.hpp>
#include <numeric>
#include <set>

#include "ftl/eval/metrics.h"

using Catch::Matchers::Contains;

TEST_CASE("shard: each global batch is split in rank order and the ranks cover the epoch once",
          "[distributed]") {
  std::vector<std::size_t> order(23);
  std::iota(order.begin(), order.end(), 100);
  CHECK(ftl::steps_per_epoch(23, 4, 3) == 2);
  CHECK(ftl::steps_per_epoch(23, 4, 1) == 6);
  std::multiset<std::size_t> seen;
  std::vector<std::vector<std::int64_t>> step_images;
  for (int rank = 0; rank < 3; ++rank) {
    const ftl::EpochShard shard = ftl::shard_epoch(order, 4, rank, 3);
    seen.insert(shard.order.begin(), shard.order.end());
    step_images.push_back(shard.step_images);
  }
  CHECK(seen == std::multiset<std::size_t>(order.begin(), order.end()));
  CHECK(step_images == std::vector<std::vector<std::int64_t>>{{4, 4}, {4, 4}, {4, 3}});
  // Rank 1 takes images 4-7 of each global batch of 12.
  CHECK(ftl::shard_epoch(order, 4, 1, 3).order ==
        std::vector<std::size_t>{104, 105, 106, 107, 116, 117, 118, 119});
  // A rank past the end of the last global batch has a step with no image.
  const std::vector<std::size_t> five = {0, 1, 2, 3, 4};
  CHECK(ftl::shard_epoch(five, 2, 2, 3).step_images == std::vector<std::int64_t>{1});
  CHECK(ftl::shard_epoch(five, 4, 2, 3).step_images == std::vector<std::int64_t>{0});
  CHECK(ftl::shard_epoch(five, 4, 2, 3).order.empty());
  CHECK(ftl::shard_positions(7, 1, 3) == std::vector<std::size_t>{1, 4});
}

TEST_CASE("metrics: the summed totals of two shards are the totals of the whole", "[distributed]") {
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({20, 4});
  const torch::Tensor labels = torch::randint(0, 4, {20}, torch::kInt64);
  ftl::MetricsAccumulator whole(4, 2);
  whole.add(logits, labels);
  ftl::MetricsAccumulator first(4, 2);
  ftl::MetricsAccumulator second(4, 2);
  first.add(logits.slice(0, 0, 7), labels.slice(0, 0, 7));
  second.add(logits.slice(0, 7), labels.slice(0, 7));
  ftl::MetricsAccumulator merged(4, 2);
  merged.set_totals(first.totals() + second.totals());
  CHECK(merged.count() == 20);
  CHECK(merged.accuracy() == whole.accuracy());
  CHECK(merged.top_k_accuracy() == whole.top_k_accuracy());
  CHECK(merged.mean_loss() == Approx(whole.mean_loss()).epsilon(1e-6));  // float32 per batch
  CHECK(merged.confusion() == whole.confusion());
  CHECK(merged.expected_calibration_error() ==
        Approx(whole.expected_calibration_error()).epsilon(1e-12));
  CHECK_THROWS_WITH(merged.set_totals(torch::zeros({3}, torch::kFloat64)),
                    Contains("3 values for"));
}
