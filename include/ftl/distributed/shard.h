// How a data-parallel run splits the work: each optimizer step takes one global batch of
// batch_size x world_size images from the epoch's seeded order, and rank r trains on the r-th
// batch_size slice of it. Validation images are dealt out round-robin.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftl {

/// One rank's part of an epoch (or of what is left of it).
struct EpochShard {
  std::vector<std::size_t> order;         // this rank's images, step by step
  std::vector<std::int64_t> step_images;  // images this rank takes at each step; only the
                                          // last step can hold fewer than batch_size, or 0
};

/// Optimizer steps in an epoch of `samples` images.
std::int64_t steps_per_epoch(std::size_t samples, std::int64_t batch_size, int world_size);

/// Rank `rank`'s slices of `order`, which starts at a global batch boundary.
EpochShard shard_epoch(const std::vector<std::size_t>& order, std::int64_t batch_size, int rank,
                       int world_size);

/// What is left of an epoch of `order` after `steps_done` global batches (a mid-epoch save),
/// as rank `rank`'s slices.
EpochShard shard_rest_of_epoch(std::vector<std::size_t> order, std::int64_t steps_done,
                               std::int64_t batch_size, int rank, int world_size);

/// The positions 0..count-1 that rank `rank` validates: rank, rank + world_size, ...
std::vector<std::size_t> shard_positions(std::size_t count, int rank, int world_size);

}  // namespace ftl
