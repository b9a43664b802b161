#include "ftl/util/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>

namespace ftl {

std::filesystem::path executable_path() {
  std::error_code error;
  std::filesystem::path path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : path;
}

std::string loaded_blas() {
  // The library dlsym finds sgemm_ in is the one LibTorch's own calls bind to: the first in the
  // process's lookup order.
  void* const sgemm = ::dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (sgemm == nullptr || ::dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) {
    return "none found";
  }
  std::error_code error;
  const std::filesystem::path path = std::filesystem::canonical(info.dli_fname, error);
  const std::string name = error ? std::string(info.dli_fname) : path.string();
  if (std::filesystem::path(name).filename().string().rfind("libtorch", 0) == 0) {
    return "built into LibTorch (" + name + ")";
  }
  return name;
}

std::int64_t available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<std::int64_t>(hardware) : 1;
}

std::int64_t default_compute_threads() {
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp != nullptr) {
    char* end = nullptr;
    const long value = std::strtol(omp, &end, 10);
    if (end != omp && *end == '\0' && value > 0) return value;
  }
  return available_cores();
}

std::int64_t configure_compute_threads(std::int64_t requested) {
  const std::int64_t threads = requested > 0 ? requested : default_compute_threads();
  at::set_num_threads(static_cast<int>(threads));
  return at::get_num_threads();
}

void keep_compute_on_this_thread() {
  // ATen sets a thread's OpenMP thread count from the process's on that thread's first
  // parallel call: done first, so that it does not undo the count set here.
  at::internal::lazy_init_num_threads();
  // The OpenMP runtime LibTorch was built with (Debian's libgomp, or the copy an official
  // LibTorch bundles), looked up rather than linked, so that it is never a second runtime.
  // omp_set_num_threads changes the calling thread's count only, unlike at::set_num_threads.
  using SetNumThreads = void (*)(int);
  const auto set_num_threads =
      reinterpret_cast<SetNumThreads>(::dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_num_threads != nullptr) set_num_threads(1);
}

void limit_interop_threads() { at::set_num_interop_threads(1); }

void tune_allocator() {
#if defined(__GLIBC__)
  // 32 MiB is glibc's largest mmap threshold: buffers below it are reused from the heap.
  constexpr int kMmapThreshold = 32 << 20;
  // Free heap memory is kept for reuse instead of being trimmed back after each step.
  constexpr int kTrimThreshold = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
#endif
}

void configure_determinism(bool deterministic) {
  if (deterministic) {
    // cuBLAS is deterministic only with a fixed workspace; it reads this before CUDA starts.
    ::setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  }
  at::globalContext().setDeterministicAlgorithms(deterministic, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(deterministic);
  at::globalContext().setBenchmarkCuDNN(false);
  torch::jit::setGraphExecutorOptimize(!deterministic);
}

std::int64_t resolve_workers(std::int64_t requested) {
  return requested > 0 ? requested : available_cores();
}

std::int64_t resolve_loader_workers(std::int64_t requested) {
  return requested > 0 ? requested
                       : std::max<std::int64_t>(1, available_cores() / kCoresPerLoaderWorker);
}

}  // namespace ftl
