// How a checkpoint is run over images: the settings that evaluate, predict and report share,
// written once here and embedded in each of their options.
#pragma once

#include <cstdint>
#include <string>

#include "ftl/eval/class_scores.h"

namespace ftl {

struct InferenceOptions {
  std::int64_t batch_size = 64;  // images per forward pass
  std::int64_t workers = 0;      // decoding threads; 0 = one per 4 cores, min 1
  std::int64_t threads = 0;      // compute threads; 0 = cores available to the process
  std::string device = "cpu";    // "cpu", "cuda" or "cuda:N"
  Tta tta = Tta::kNone;          // test-time augmentation of every prediction
};

}  // namespace ftl
