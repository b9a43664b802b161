// How many loader and decoding workers a command gets from the cores it has.
#include "ftl/util/runtime.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

TEST_CASE("runtime: loader workers default to one per 4 cores and at least 1", "[threads]") {
  CHECK(ftl::resolve_loader_workers(3) == 3);
  CHECK(ftl::resolve_loader_workers(0) ==
        std::max<std::int64_t>(1, ftl::available_cores() / ftl::kCoresPerLoaderWorker));
  CHECK(ftl::resolve_loader_workers(0) >= 1);
  // Decoding alone (ftl data check) takes every core.
  CHECK(ftl::resolve_workers(0) == ftl::available_cores());
}

TEST_CASE("runtime: the BLAS that sgemm_ comes from is named", "[threads]") {
  const std::string blas = ftl::loaded_blas();
  INFO(blas);
  REQUIRE(blas != "none found");  // LibTorch links a BLAS: sgemm_ is in the process
  if (blas.rfind("built into", 0) != 0) CHECK(std::filesystem::exists(blas));
}

TEST_CASE("runtime: a thread kept to itself computes alone and leaves the others' count",
          "[threads]") {
  ftl::configure_compute_threads(2);
  int kept = 0;
  int beside = 0;
  std::thread preparing([&] {
    ftl::keep_compute_on_this_thread();
    kept = at::get_num_threads();
    // ATen's first parallel call on a thread sets its count from the process's: not after this.
    at::parallel_for(0, 1 << 20, 1, [](std::int64_t, std::int64_t) {});
    kept = std::max(kept, at::get_num_threads());
  });
  preparing.join();
  std::thread other([&] { beside = at::get_num_threads(); });
  other.join();
  CHECK(kept == 1);
  CHECK(beside == 2);
  CHECK(at::get_num_threads() == 2);
}
