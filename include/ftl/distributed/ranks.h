// The processes of a run behind one interface: a single process, whose operations are
// identities, or the ranks of a data-parallel run on c10d. The training loop is written once
// against it, and reads the same for one process and for many.
#pragma once

#include <spdlog/logger.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/data/dataset.h"
#include "ftl/distributed/launch.h"

namespace ftl {

/// What one optimizer step trained on (this process's batch, or all ranks' together), and the
/// stop signal that the ranks agreed on at that step.
struct StepTotals {
  double weight = 0;  // the loss's denominator: images, or their class weights summed
  double loss = 0;    // mean training loss
  std::int64_t correct = 0;
  std::int64_t count = 0;
  int signal = 0;  // a stop signal seen by this rank or, after all_reduce_step, by any rank
};

/// Time spent in the steps' collectives since the last call of take_step_timing.
struct StepTiming {
  double seconds = 0;
  std::int64_t steps = 0;  // 0 for a single process: it has no collective
};

class Ranks {
 public:
  virtual ~Ranks() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Rank 0, or the only process: the one that writes the run folder.
  bool root() const { return rank() == 0; }

  /// Rank 0's values replace every other rank's, in place. `what` names the data in errors.
  virtual void broadcast(const std::vector<torch::Tensor>& tensors, const std::string& what) = 0;
  /// Sums each tensor over the ranks, in place.
  virtual void all_reduce(const std::vector<torch::Tensor>& tensors, const std::string& what) = 0;
  /// Every rank's text, in rank order, on every rank (for small texts).
  virtual std::vector<std::string> all_gather_text(const std::string& text,
                                                   const std::string& what) = 0;
  /// Averages the step's gradients over the ranks, weighting each rank by its share of the
  /// global batch (`local.weight`), so that the step is the one a single process would take on
  /// the whole global batch; the totals and stop signals travel in the same collective.
  virtual StepTotals all_reduce_step(const std::vector<torch::Tensor>& parameters,
                                     const StepTotals& local) = 0;
  virtual StepTiming take_step_timing() = 0;

  /// The stop signal every rank acts on: its own, else the one that other ranks received.
  int agree_on_stop(int local);
  /// Whether `value` holds on every rank.
  bool on_every_rank(bool value, const std::string& what);
  /// Throws ConfigError on every rank when some rank's `value` differs from rank 0's.
  void check_same_on_every_rank(const std::string& value, const std::string& what);
};

/// This process alone: every collective is an identity.
class SingleProcess final : public Ranks {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void broadcast(const std::vector<torch::Tensor>&, const std::string&) override {}
  void all_reduce(const std::vector<torch::Tensor>&, const std::string&) override {}
  std::vector<std::string> all_gather_text(const std::string& text, const std::string&) override {
    return {text};
  }
  StepTotals all_reduce_step(const std::vector<torch::Tensor>&, const StepTotals& local) override {
    return local;
  }
  StepTiming take_step_timing() override { return {}; }
};

/// Joins the other ranks of `launch` (a single process when it is not distributed) and checks
/// that they were all given the same run: `run_identity` (the config and the run mode) must be
/// the same everywhere. Throws as Communicator does, and ConfigError on a mismatch.
std::unique_ptr<Ranks> join_ranks(const Launch& launch, const Config& config,
                                  const torch::Device& device, const std::string& run_identity,
                                  spdlog::logger& log);

/// train.device for this process: in a distributed run "cuda" is the GPU of the rank's
/// LOCAL_RANK on its machine. Throws ConfigError when that GPU does not exist.
torch::Device rank_device(const torch::Device& device, const std::string& name,
                          const Launch& launch);

/// The images of `data` that rank `rank` of `world_size` takes: every world_size-th one.
ImageFolder rank_share(const ImageFolder& data, int rank, int world_size);

}  // namespace ftl
