#include "ftl/distributed/shard.h"

#include <algorithm>

namespace ftl {

std::int64_t steps_per_epoch(std::size_t samples, std::int64_t batch_size, int world_size) {
  const std::int64_t global_batch = batch_size * world_size;
  return (static_cast<std::int64_t>(samples) + global_batch - 1) / global_batch;
}

EpochShard shard_epoch(const std::vector<std::size_t>& order, std::int64_t batch_size, int rank,
                       int world_size) {
  EpochShard shard;
  const auto batch = static_cast<std::size_t>(batch_size);
  const std::size_t global_batch = batch * static_cast<std::size_t>(world_size);
  for (std::size_t start = 0; start < order.size(); start += global_batch) {
    const std::size_t begin =
        std::min(order.size(), start + batch * static_cast<std::size_t>(rank));
    const std::size_t end = std::min(order.size(), begin + batch);
    shard.order.insert(shard.order.end(), order.begin() + static_cast<std::ptrdiff_t>(begin),
                       order.begin() + static_cast<std::ptrdiff_t>(end));
    shard.step_images.push_back(static_cast<std::int64_t>(end - begin));
  }
  return shard;
}

EpochShard shard_rest_of_epoch(std::vector<std::size_t> order, std::int64_t steps_done,
                               std::int64_t batch_size, int rank, int world_size) {
  const auto done = static_cast<std::size_t>(steps_done * batch_size * world_size);
  order.erase(order.begin(),
              order.begin() + static_cast<std::ptrdiff_t>(std::min(done, order.size())));
  return shard_epoch(order, batch_size, rank, world_size);
}

std::vector<std::size_t> shard_positions(std::size_t count, int rank, int world_size) {
  std::vector<std::size_t> positions;
  for (auto i = static_cast<std::size_t>(rank); i < count;
       i += static_cast<std::size_t>(world_size)) {
    positions.push_back(i);
  }
  return positions;
}

}  // namespace ftl
