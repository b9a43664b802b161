// Thread counts: LibTorch's default is not what this process may use, so ftl sets it explicitly.
#pragma once

#include <cstdint>

namespace ftl {

/// Cores this process may run on (its CPU affinity mask), at least 1.
std::int64_t available_cores();

/// Sets LibTorch's intra-op threads (0 = available_cores()) and returns the count in force.
std::int64_t configure_compute_threads(std::int64_t requested);

/// Resolves a worker count (0 = available_cores()).
std::int64_t resolve_workers(std::int64_t requested);

}  // namespace ftl
