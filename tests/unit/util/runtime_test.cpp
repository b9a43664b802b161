// How many loader and decoding workers a command gets from the cores it has.
#include "ftl/util/runtime.h"

#include <algorithm>
#include <catch2/catch.hpp>

TEST_CASE("runtime: loader workers default to one per 4 cores and at least 1", "[threads]") {
  CHECK(ftl::resolve_loader_workers(3) == 3);
  CHECK(ftl::resolve_loader_workers(0) ==
        std::max<std::int64_t>(1, ftl::available_cores() / ftl::kCoresPerLoaderWorker));
  CHECK(ftl::resolve_loader_workers(0) >= 1);
  // Decoding alone (ftl data check) takes every core.
  CHECK(ftl::resolve_workers(0) == ftl::available_cores());
}
