// Preprocessing settings for tests that compare input tensors level by level.
#pragma once

#include <cstdint>

#include "ftl/image/preprocess.h"

namespace ftl::testing {

/// A side x side input with mean 0 and std 1, which keep the [0, 1] scale of the pixels.
inline ftl::Preprocess identity_statistics(std::int64_t side) {
  ftl::Preprocess preprocess;
  preprocess.image_size = side;
  preprocess.mean = {0, 0, 0};
  preprocess.std = {1, 1, 1};
  return preprocess;
}

}  // namespace ftl::testing
