#include "ftl/distributed/communicator.h"

#include <spdlog/fmt/fmt.h>

#include <chrono>
#include <exception>

#include "ftl/util/errors.h"

#ifdef FTL_DISTRIBUTED
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef FTL_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace ftl {

#ifdef FTL_DISTRIBUTED

namespace {

// ftl's store keys live under their own prefix, apart from the launcher's and c10d's.
constexpr const char* kStorePrefix = "ftl/";

std::string cause_of(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) {
    return torch_error->what_without_backtrace();
  }
  return error.what();
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Consecutive tensors of one dtype and device, at most kBucketBytes together (a larger tensor
// travels alone).
std::vector<std::vector<torch::Tensor>> buckets_of(const std::vector<torch::Tensor>& tensors,
                                                   std::size_t bucket_bytes) {
  std::vector<std::vector<torch::Tensor>> buckets;
  std::size_t bytes = 0;
  for (const torch::Tensor& tensor : tensors) {
    const std::size_t size = tensor.nbytes();
    const bool fits = !buckets.empty() && buckets.back().front().dtype() == tensor.dtype() &&
                      buckets.back().front().device() == tensor.device() &&
                      bytes + size <= bucket_bytes;
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(tensor);
    bytes += size;
  }
  return buckets;
}

// The bucket's tensors end to end, on `device`.
torch::Tensor flatten(const std::vector<torch::Tensor>& bucket, const torch::Device& device) {
  std::vector<torch::Tensor> flat;
  flat.reserve(bucket.size());
  for (const torch::Tensor& tensor : bucket) flat.push_back(tensor.detach().reshape({-1}));
  return torch::cat(flat).to(device);
}

void unflatten(const torch::Tensor& flat, const std::vector<torch::Tensor>& bucket) {
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0;
  for (const torch::Tensor& tensor : bucket) {
    tensor.copy_(flat.narrow(0, offset, tensor.numel()).view(tensor.sizes()));
    offset += tensor.numel();
  }
}

}  // namespace

bool distributed_available() { return true; }

struct Communicator::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> process_group;
};

namespace {

std::shared_ptr<::gloo::transport::Device> gloo_device(const Launch& launch) {
  if (!launch.gloo_interface.empty()) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(launch.gloo_interface);
  }
  // All ranks on this machine: loopback, whatever this host's name resolves to.
  if (is_loopback(launch.master_addr)) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

DistBackend resolve_backend(DistBackend backend, const torch::Device& device) {
  if (backend == DistBackend::kGloo) return backend;
  if (backend == DistBackend::kAuto) {
#ifdef FTL_WITH_NCCL
    if (device.is_cuda()) return DistBackend::kNccl;
#endif
    return DistBackend::kGloo;
  }
  if (!device.is_cuda()) {
    throw ConfigError("dist.backend \"nccl\" needs train.device \"cuda\"; on the CPU use \"gloo\"");
  }
#ifndef FTL_WITH_NCCL
  throw ConfigError(
      "dist.backend \"nccl\": this ftl was built without NCCL (a LibTorch with CUDA and NCCL "
      "is needed); use \"gloo\"");
#endif
  return backend;
}

}  // namespace

Communicator::Communicator(const Launch& launch, DistBackend backend, double timeout_s,
                           const torch::Device& device)
    : rank_(launch.rank),
      world_size_(launch.world_size),
      timeout_s_(timeout_s),
      backend_(resolve_backend(backend, device)),
      collective_device_(backend_ == DistBackend::kNccl ? device : torch::Device(torch::kCPU)),
      group_(std::make_unique<Group>()) {
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  const std::string where = fmt::format("{}:{}", launch.master_addr, launch.master_port);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(launch.master_port);
    options.isServer = !launch.agent_store && launch.rank == 0;
    options.numWorkers = static_cast<std::size_t>(launch.world_size);
    // Waiting for the workers here would take two timeouts for a missing peer; the process
    // group's own rendezvous below waits once.
    options.waitWorkers = false;
    options.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store =
        c10::make_intrusive<c10d::TCPStore>(launch.master_addr, options);
    if (launch.agent_store) {
      store = c10::make_intrusive<c10d::PrefixStore>(launch.store_prefix, store);
    }
    group_->store = c10::make_intrusive<c10d::PrefixStore>(kStorePrefix, store);
  } catch (const std::exception& error) {
    throw DistributedError(fmt::format(
        "rank {} of {}: cannot reach the rendezvous store at {} within dist.timeout_s {:g}s "
        "({}); is rank 0 running, and is {} its address?",
        rank_, world_size_, where, timeout_s, cause_of(error), launch.master_addr));
  }
  try {
#ifdef FTL_WITH_NCCL
    if (backend_ == DistBackend::kNccl) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      group_->process_group =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(group_->store, rank_, world_size_, options);
    }
#endif
    if (backend_ == DistBackend::kGloo) {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(gloo_device(launch));
      group_->process_group =
          c10::make_intrusive<c10d::ProcessGroupGloo>(group_->store, rank_, world_size_, options);
    }
  } catch (const std::exception& error) {
    throw DistributedError(fmt::format(
        "rank {} of {}: the other ranks did not all join through {} within dist.timeout_s "
        "{:g}s ({}); start all {} processes with the same WORLD_SIZE, MASTER_ADDR and "
        "MASTER_PORT",
        rank_, world_size_, where, timeout_s, cause_of(error), world_size_));
  }
}

Communicator::~Communicator() = default;

void Communicator::fail(const std::string& what, const std::string& cause) const {
  throw DistributedError(fmt::format(
      "rank {} of {}: {} failed: {}; another rank stopped, died or did not answer within "
      "dist.timeout_s {:g}s (see its log)",
      rank_, world_size_, what, cause, timeout_s_));
}

void Communicator::broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what) {
  for (const std::vector<torch::Tensor>& bucket : buckets_of(tensors, kBucketBytes)) {
    std::vector<torch::Tensor> flat = {flatten(bucket, collective_device_)};
    try {
      group_->process_group->broadcast(flat)->wait();
    } catch (const std::exception& error) {
      fail("broadcast of " + what, cause_of(error));
    }
    if (rank_ != 0) unflatten(flat.front(), bucket);
  }
}

void Communicator::all_reduce(const std::vector<torch::Tensor>& tensors, const std::string& what) {
  const std::vector<std::vector<torch::Tensor>> buckets = buckets_of(tensors, kBucketBytes);
  std::vector<std::vector<torch::Tensor>> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  try {
    for (const std::vector<torch::Tensor>& bucket : buckets) {
      flats.push_back({flatten(bucket, collective_device_)});
      works.push_back(group_->process_group->allreduce(flats.back()));
    }
    for (const c10::intrusive_ptr<c10d::Work>& work : works) work->wait();
  } catch (const std::exception& error) {
    fail("all-reduce of " + what, cause_of(error));
  }
  for (std::size_t b = 0; b < buckets.size(); ++b) unflatten(flats[b].front(), buckets[b]);
}

std::vector<std::string> Communicator::all_gather_text(const std::string& text,
                                                       const std::string& what) {
  // A fresh key per call: every rank makes the same calls in the same order. The keys stay
  // (a rank cannot tell when the others have read its text); they end with the store.
  const std::string key = fmt::format("gather/{}/", gathers_++);
  std::vector<std::string> texts;
  try {
    group_->store->set(key + std::to_string(rank_),
                       std::vector<std::uint8_t>(text.begin(), text.end()));
    for (int rank = 0; rank < world_size_; ++rank) {
      const std::vector<std::uint8_t> bytes = group_->store->get(key + std::to_string(rank));
      texts.emplace_back(bytes.begin(), bytes.end());
    }
  } catch (const std::exception& error) {
    fail("gathering " + what, cause_of(error));
  }
  return texts;
}

#else  // FTL_DISTRIBUTED

bool distributed_available() { return false; }

struct Communicator::Group {};

Communicator::Communicator(const Launch& launch, DistBackend, double, const torch::Device&) {
  throw ConfigError(fmt::format(
      "{} asks for {} processes, but this ftl was built without distributed training "
      "(FTL_DISTRIBUTED is OFF: LibTorch's c10d or the Gloo headers, Debian's libgloo-dev, "
      "were not found at build time)",
      launch.source, launch.world_size));
}

Communicator::~Communicator() = default;

void Communicator::fail(const std::string& what, const std::string& cause) const {
  throw DistributedError(what + ": " + cause);
}
void Communicator::broadcast(const std::vector<torch::Tensor>&, const std::string&) {}
void Communicator::all_reduce(const std::vector<torch::Tensor>&, const std::string&) {}
std::vector<std::string> Communicator::all_gather_text(const std::string& text,
                                                       const std::string&) {
  return {text};
}

#endif  // FTL_DISTRIBUTED

}  // namespace ftl
