// `ftl finetune`: fine-tunes a TorchScript torchvision classifier on an image folder or a CSV
// manifest, writing config.json, metrics.jsonl/csv, summary.json and checkpoints/
// (last.pt with the resume state, best.pt, and the top-k epochs when asked for).
#pragma once

#include <spdlog/logger.h>

#include "ftl/config/config.h"
#include "ftl/distributed/launch.h"
#include "ftl/train/finetune_hooks.h"
#include "ftl/train/finetune_result.h"
#include "ftl/train/run_folder.h"

namespace ftl {

/// Runs the whole job. Throws ConfigError for a bad config or device, DataError, ModelError
/// or IoError with the file concerned, TrainingError when the loss stops being finite, and
/// Interrupted after saving when hooks.stop_requested asks. In RunMode::kNew a run folder
/// that already holds a run is refused, so nothing written by an earlier run is overwritten.
///
/// With launch.world_size > 1 this process is one rank of a data-parallel run: every rank
/// calls finetune with the same config; rank 0 alone writes the run folder (a resumed run's
/// folder must be readable by every rank). A rank that fails or dies makes the others throw
/// DistributedError within dist.timeout_s.
FinetuneResult finetune(const Config& config, spdlog::logger& log, const FinetuneHooks& hooks = {},
                        RunMode mode = RunMode::kNew, const Launch& launch = {});

}  // namespace ftl
