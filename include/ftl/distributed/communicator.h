// The collectives a data-parallel run needs, on PyTorch's c10d process groups: Gloo on the
// CPU, NCCL on CUDA where LibTorch has it. Rendezvous goes through a c10d TCPStore (rank 0's,
// or torchrun's agent store). Every wait is bounded by dist.timeout_s: a peer that never
// arrives, dies or hangs gives a DistributedError instead of a hang.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "ftl/config/choices.h"
#include "ftl/distributed/launch.h"

namespace ftl {

/// Whether this ftl was built with c10d (CMake option FTL_DISTRIBUTED).
bool distributed_available();

class Communicator {
 public:
  /// Gradients travel in flat buckets of at most this size, all in flight at once, as
  /// PyTorch's DistributedDataParallel does by default.
  static constexpr std::size_t kBucketBytes = std::size_t{25} << 20;

  /// Joins the process group. `backend` is dist.backend; kAuto picks NCCL for CUDA where this
  /// build has it, else Gloo. Throws
  /// ConfigError when the backend cannot serve `device` or this build lacks it, and
  /// DistributedError when the other ranks do not all arrive within `timeout_s`.
  Communicator(const Launch& launch, DistBackend backend, double timeout_s,
               const torch::Device& device);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  /// The backend in use: kGloo or kNccl, never kAuto.
  DistBackend backend() const { return backend_; }

  /// Rank 0's values replace every other rank's, in place. `what` names the data in errors.
  void broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what);
  /// Sums each tensor over the ranks, in place.
  void all_reduce(const std::vector<torch::Tensor>& tensors, const std::string& what);
  /// Every rank's text, in rank order, on every rank (through the store: for small texts).
  std::vector<std::string> all_gather_text(const std::string& text, const std::string& what);

 private:
  struct Group;
  [[noreturn]] void fail(const std::string& what, const std::string& cause) const;

  int rank_ = 0;
  int world_size_ = 1;
  double timeout_s_ = 0;
  DistBackend backend_;
  // Where the collectives run: NCCL takes CUDA tensors only, Gloo here CPU ones. Tensors from
  // elsewhere travel through a flat copy on this device.
  torch::Device collective_device_ = torch::kCPU;
  std::int64_t gathers_ = 0;  // names each gather's store keys; every rank counts alike
  std::unique_ptr<Group> group_;
};

}  // namespace ftl
