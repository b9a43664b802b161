// The network as training sees it: the TorchScript module, its head, the modules held frozen,
// and the train/eval modes under the BatchNorm policy. Staged unfreezing changes the frozen set
// here, and the phase ("frozen" or "full") that checkpoints record follows from it.
#pragma once

#include <spdlog/logger.h>
#include <torch/script.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ftl/config/config.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/head.h"
#include "ftl/model/train_state.h"

namespace ftl {

class TrainingModel {
 public:
  /// Holds `module`, whose head is `head`, frozen as model.freeze says; throws ConfigError when
  /// the network lacks a module that the policy names.
  TrainingModel(torch::jit::Module module, Head head, const ModelConfig& config);

  torch::jit::Module& module() { return module_; }
  const torch::jit::Module& module() const { return module_; }
  const Head& head() const { return head_; }
  const std::set<std::string>& frozen() const { return frozen_; }
  /// "frozen" while part of the network is held fixed, then "full".
  std::string phase() const { return frozen_.empty() ? "full" : "frozen"; }

  /// train(training), with the frozen modules' BatchNorm layers as the policy says.
  void set_mode(bool training);
  /// Sets requires_grad from the frozen set; returns the trainable parameters, in order.
  std::vector<torch::jit::NameTensor> trainable();
  /// Lets everything train from now on; returns the parameters that start to train.
  std::vector<torch::jit::NameTensor> unfreeze();
  /// What trains, as checkpoints record it: phase, frozen modules, BatchNorm policy, and the
  /// network's family and head (Head::to_json).
  nlohmann::json training_json(std::size_t trainable_tensors) const;

 private:
  torch::jit::Module module_;
  Head head_;
  std::set<std::string> frozen_;
  BatchNormPolicy batchnorm_;  // model.batchnorm
};

/// A run's network and its head.
struct StartingNetwork {
  torch::jit::Module module;
  Head head;
};

/// The network a run starts from: last.pt's when it resumes (`last`, whose classes must be the
/// training data's: DataError otherwise), else model.path's with a new head for `classes`,
/// initialised from train.seed. Logs which, with the family and the head. Throws ConfigError
/// when the family takes only one input size and data.image_size is another.
StartingNetwork starting_network(const Config& config, const std::vector<std::string>& classes,
                                 const Checkpoint* last, const TrainState& state,
                                 const torch::Device& device, spdlog::logger& log);

/// How a training process computes, fixed once before its network is built.
struct TrainingCompute {
  ComputeMode mode;          // train.precision and train.memory_format on this device
  std::int64_t threads = 0;  // the compute threads train.threads resolved to
};

/// Sets up a training process's computing, as finetune and the lr range test both start:
/// determinism, the seed, the threads, the compute mode, and the JIT executor the training
/// graph runs on. ConfigError when train.precision cannot run on `device`.
TrainingCompute start_training_compute(const TrainConfig& train, const torch::Device& device,
                                       bool deterministic, std::uint64_t seed);

}  // namespace ftl
