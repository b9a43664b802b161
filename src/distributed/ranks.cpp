#include "ftl/distributed/ranks.h"

#include <spdlog/fmt/fmt.h>

#include <chrono>

#include "ftl/distributed/communicator.h"
#include "ftl/distributed/shard.h"
#include "ftl/util/errors.h"
#include "ftl/util/hash.h"

namespace ftl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The signal every rank acts on: its own, else the one that other ranks received.
int agreed_signal(int local, double stopping_ranks, double signal_sum) {
  if (stopping_ranks == 0) return 0;
  return local != 0 ? local : static_cast<int>(signal_sum / stopping_ranks);
}

// The ranks of a data-parallel run, on a c10d process group.
class ProcessGroupRanks final : public Ranks {
 public:
  explicit ProcessGroupRanks(std::unique_ptr<Communicator> communicator)
      : communicator_(std::move(communicator)) {}

  int rank() const override { return communicator_->rank(); }
  int world_size() const override { return communicator_->world_size(); }
  void broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what) override {
    communicator_->broadcast(tensors, what);
  }
  void all_reduce(const std::vector<torch::Tensor>& tensors, const std::string& what) override {
    communicator_->all_reduce(tensors, what);
  }
  std::vector<std::string> all_gather_text(const std::string& text,
                                           const std::string& what) override {
    return communicator_->all_gather_text(text, what);
  }
  StepTotals all_reduce_step(const std::vector<torch::Tensor>& parameters,
                             const StepTotals& local) override;
  StepTiming take_step_timing() override {
    const StepTiming timing = timing_;
    timing_ = {};
    return timing;
  }

 private:
  std::unique_ptr<Communicator> communicator_;
  StepTiming timing_;
};

StepTotals ProcessGroupRanks::all_reduce_step(const std::vector<torch::Tensor>& parameters,
                                              const StepTotals& local) {
  const auto start = Clock::now();
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& parameter : parameters) {
    torch::Tensor& grad = parameter.mutable_grad();
    if (!grad.defined()) grad = torch::zeros_like(parameter);  // no image on this rank
    grad.mul_(local.weight);  // this rank's mean loss gradient -> its summed gradient
    tensors.push_back(grad);
  }
  const torch::Tensor totals =
      torch::tensor({local.weight, local.weight > 0 ? local.loss * local.weight : 0.0,
                     static_cast<double>(local.correct), static_cast<double>(local.count),
                     local.signal != 0 ? 1.0 : 0.0, static_cast<double>(local.signal)},
                    torch::kFloat64);
  tensors.push_back(totals);
  communicator_->all_reduce(tensors, "the gradients");
  constexpr int kTotals = 6;
  const std::vector<double> sums(totals.data_ptr<double>(), totals.data_ptr<double>() + kTotals);
  StepTotals total;
  total.weight = sums[0];
  total.loss = total.weight > 0 ? sums[1] / total.weight : 0.0;
  total.correct = static_cast<std::int64_t>(sums[2]);
  total.count = static_cast<std::int64_t>(sums[3]);
  total.signal = agreed_signal(local.signal, sums[4], sums[5]);
  if (total.weight > 0) {
    for (const torch::Tensor& parameter : parameters) {
      parameter.mutable_grad().div_(total.weight);
    }
  }
  timing_.seconds += seconds_since(start);
  ++timing_.steps;
  return total;
}

}  // namespace

int Ranks::agree_on_stop(int local) {
  const torch::Tensor votes =
      torch::tensor({local != 0 ? 1.0 : 0.0, static_cast<double>(local)}, torch::kFloat64);
  all_reduce({votes}, "the stop signal");
  return agreed_signal(local, votes[0].item<double>(), votes[1].item<double>());
}

bool Ranks::on_every_rank(bool value, const std::string& what) {
  const torch::Tensor count = torch::tensor({value ? 1.0 : 0.0}, torch::kFloat64);
  all_reduce({count}, what);
  return count.item<double>() == static_cast<double>(world_size());
}

void Ranks::check_same_on_every_rank(const std::string& value, const std::string& what) {
  Fnv1a hash;
  hash.add(value);
  // The 64-bit hash as two 32-bit halves, which doubles carry exactly.
  constexpr std::uint64_t kLow32 = 0xffffffffULL;
  const torch::Tensor mine = torch::tensor(
      {static_cast<double>(hash.value() >> 32), static_cast<double>(hash.value() & kLow32)},
      torch::kFloat64);
  const torch::Tensor root_value = mine.clone();
  broadcast({root_value}, what);
  const torch::Tensor differing =
      torch::tensor({root_value.equal(mine) ? 0.0 : 1.0}, torch::kFloat64);
  all_reduce({differing}, what);
  const auto count = static_cast<int>(differing.item<double>());
  if (count > 0) {
    throw ConfigError(fmt::format(
        "{} of the {} ranks were given {} different from rank 0's{}; every rank must be "
        "started alike",
        count, world_size(), what, root_value.equal(mine) ? "" : ", this one among them"));
  }
}

std::unique_ptr<Ranks> join_ranks(const Launch& launch, const Config& config,
                                  const torch::Device& device, const std::string& run_identity,
                                  spdlog::logger& log) {
  if (!launch.distributed()) return std::make_unique<SingleProcess>();
  const auto start = Clock::now();
  log.info("distributed: rank {} of {} ({}), rendezvous at {}:{}", launch.rank, launch.world_size,
           launch.source, launch.master_addr, launch.master_port);
  auto communicator =
      std::make_unique<Communicator>(launch, config.dist.backend, config.dist.timeout_s, device);
  log.info("distributed: all {} ranks joined in {:.1f}s ({}); global batch {} x {} = {}",
           launch.world_size, seconds_since(start), to_string(communicator->backend()),
           config.data.batch_size, launch.world_size, config.data.batch_size * launch.world_size);
  auto ranks = std::make_unique<ProcessGroupRanks>(std::move(communicator));
  ranks->check_same_on_every_rank(run_identity, "a config (with its overrides and run mode)");
  return ranks;
}

torch::Device rank_device(const torch::Device& device, const std::string& name,
                          const Launch& launch) {
  if (!device.is_cuda() || !launch.distributed() || name != "cuda") return device;
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  if (launch.local_rank >= gpus) {
    throw ConfigError(fmt::format(
        "train.device \"cuda\": local rank {} has no GPU of its own ({} on this machine); start "
        "at most {} processes per machine",
        launch.local_rank, gpus, gpus));
  }
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank)};
}

ImageFolder rank_share(const ImageFolder& data, int rank, int world_size) {
  ImageFolder share = data;
  share.samples.clear();
  for (const std::size_t i : shard_positions(data.samples.size(), rank, world_size)) {
    share.samples.push_back(data.samples[i]);
  }
  return share;
}

}  // namespace ftl
