// Process-wide settings for running LibTorch on a CPU: thread counts (LibTorch's default is not
// what this process may use, so ftl sets them explicitly) and the memory allocator.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ftl {

/// The BLAS library that LibTorch's fp32 matrix products run on, as loaded in this process:
/// the resolved path of the shared library that provides sgemm_ (Debian's libblas.so.3 is the
/// reference BLAS, about 50x slower than OpenBLAS), or "built into LibTorch" when the symbol is
/// not from a separate library (an official LibTorch's MKL), or "none found".
std::string loaded_blas();

/// The path of the running executable (/proc/self/exe); empty where it cannot be read.
std::filesystem::path executable_path();

/// Cores this process may run on (its CPU affinity mask), at least 1.
std::int64_t available_cores();

/// The compute threads to use when none are asked for: OMP_NUM_THREADS when it is set to a
/// positive whole number (the convention that PyTorch, OpenMP and job schedulers share),
/// otherwise available_cores().
std::int64_t default_compute_threads();

/// Sets LibTorch's intra-op threads (0 = default_compute_threads()) and returns the count in
/// force.
std::int64_t configure_compute_threads(std::int64_t requested);

/// Makes LibTorch's operations on the calling thread run on it alone, leaving the process's
/// setting for every other thread as it is. For threads that prepare inputs beside the one
/// that runs the network: under OpenMP each thread that calls a parallel operation keeps a
/// team of workers of its own, and once the workers outnumber the cores libgomp stops spinning
/// between parallel regions, which slows every forward pass. Without OpenMP it does nothing.
void keep_compute_on_this_thread();

/// One inter-op thread: ftl runs one graph at a time, so more would only compete with the
/// intra-op threads for the cores. Call once, before any LibTorch work.
void limit_interop_threads();

/// Keeps glibc malloc from returning large tensor buffers to the kernel after every step.
/// By default each buffer above the mmap threshold is mmapped and unmapped per allocation, and
/// the page faults that follow halved ResNet-18 training speed here (226 -> 542 img/s).
void tune_allocator();

/// train.deterministic: deterministic kernels only (an error names any op that has none), no
/// cuDNN autotuning, and TorchScript run by the plain interpreter, whose first calls after a
/// restart compute exactly what later calls do (the profiling executor's optimised graphs may
/// round differently), so a resumed run repeats the uninterrupted one bit for bit.
void configure_determinism(bool deterministic);

/// Resolves a worker count for work that is all decoding, such as `ftl data check`
/// (0 = available_cores()).
std::int64_t resolve_workers(std::int64_t requested);

/// Cores per loader worker when the loader feeds a network.
inline constexpr std::int64_t kCoresPerLoaderWorker = 4;

/// Resolves the decoding threads of a loader that feeds a network (0 = one per
/// kCoresPerLoaderWorker cores, at least 1). The network's compute threads take every core,
/// and one worker decodes 10-40x faster than ResNet-18 trains (README, Speed). On 2 cores
/// (medians of 3 alternating runs) a second worker made training on 500x375 JPEGs at 224 px
/// 7% slower, competing for the cores, and on 28x28 PNGs at 32 px 5% faster.
std::int64_t resolve_loader_workers(std::int64_t requested);

}  // namespace ftl
