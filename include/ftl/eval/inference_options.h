// How a checkpoint is run over images: the settings that evaluate, predict and report share,
// written once here and embedded in each of their options, and the network they all run.
#pragma once

#include <spdlog/logger.h>
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "ftl/config/choices.h"
#include "ftl/eval/class_scores.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/inference_network.h"

namespace ftl {

/// How a checkpoint's network computes its answers: what every command that runs one
/// (evaluate, predict, report and serve) takes alike, written once here.
struct InferenceCompute {
  /// More compute threads than this is a typo, not a choice (every command's --threads).
  static constexpr std::int64_t kMaxThreads = 1024;

  std::int64_t threads = 0;                // compute threads; 0 = cores available to the process
  std::string device = "cpu";              // "cpu", "cuda" or "cuda:N"
  Tta tta = Tta::kNone;                    // test-time augmentation of every prediction
  Precision precision = Precision::kFp32;  // fp32, or bf16 (CPUs with AVX512-BF16 or AMX, CUDA)
  std::filesystem::path cpuinfo = kCpuInfoPath;  // where the CPU's flags are read for bf16's
                                                 // check (a test points it at its own file)
};

/// The settings of evaluate, predict and report: how the network computes, and how the images
/// reach it.
struct InferenceOptions : InferenceCompute {
  std::int64_t batch_size = 64;  // images per forward pass
  std::int64_t workers = 0;      // decoding threads; 0 = one per 4 cores, min 1
};

/// compute.device, resolved (resolve_device), once compute.precision is known to run there:
/// ConfigError naming "precision" for bf16 on a CPU without AVX512-BF16 or AMX
/// (check_bf16_support, the flags read from compute.cpuinfo), before anything is loaded.
torch::Device inference_device(const InferenceCompute& compute);

/// A call on fewer images than this runs the network as loaded (under autocast for bf16):
/// freezing costs more at load than it saves on so few. ResNet-18 at 224 px, 2 threads: freezing
/// adds 210 ms to a call and saves 2.3 to 4.0 ms per image in passes of 8
/// (scripts/bench/predict.sh's freeze_ms, scripts/bench/serve.sh's floor): it pays from 50 to
/// 90 images.
inline constexpr std::size_t kFreezeFromImages = 64;

/// The network evaluate, predict and report run over `images` images: the checkpoint's,
/// frozen for inference at options.precision (inference_network, probed at the checkpoint's
/// image size) when there are kFreezeFromImages images or more; else the network as loaded
/// (not_frozen_reason says why). Where it cannot be frozen, the network as loaded, with a
/// warning in `log` naming the reason. Run it under InferenceAutocast: a bf16 network as loaded
/// computes in bf16 by autocast.
InferenceNetwork prepare_inference_network(const Checkpoint& checkpoint,
                                           const InferenceOptions& options, std::size_t images,
                                           spdlog::logger& log);

/// Says in `log` which network inference_network made, each line after `prefix`: a debug line
/// when it is frozen, else a warning naming why it runs as loaded (and under autocast for bf16).
void log_inference_network(const InferenceNetwork& network, const std::string& prefix,
                           spdlog::logger& log);

/// While alive, `network` computes in its precision: autocast in bf16 where it stands as
/// loaded for a bf16 network that could not be made (InferenceNetwork::needs_autocast); else
/// it does nothing.
class InferenceAutocast {
 public:
  InferenceAutocast(const InferenceNetwork& network, const torch::Device& device)
      : scope_(ComputeMode{network.needs_autocast(), /*channels_last=*/false}, device) {}

 private:
  AutocastScope scope_;
};

}  // namespace ftl
