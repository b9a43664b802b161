// The check that ends every `ftl export`: the written file, run as its users will run it, gives
// the checkpoint's probabilities on the same inputs, within a bound set per format and precision.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ftl/export/export_options.h"

namespace ftl {

struct ParityBound {
  double max_difference = 0;  // on any probability of any image
  double min_agreement = 0;   // share of images whose top-1 class is the checkpoint's
};

/// fp32 TorchScript: 1e-5 (the same kernels, BatchNorm folded); ONNX: 1e-4 (ONNX Runtime's own
/// kernels); bf16: 2e-2 with the same top-1 class on at least 99% of the images.
ParityBound parity_bound(ExportFormat format, Precision precision);

struct ParityReport {
  std::int64_t images = 0;
  double max_difference = 0;  // the largest |p_export - p_checkpoint|
  double agreement = 1;       // share of images with the same top-1 class
  ParityBound bound;
  bool passed() const {
    return max_difference <= bound.max_difference && agreement >= bound.min_agreement;
  }
};

/// Compares two [N, classes] probability tensors (float32 or not) under `bound`.
ParityReport compare_probabilities(const torch::Tensor& reference, const torch::Tensor& exported,
                                   const ParityBound& bound);

/// The generated inputs the check always runs, as batches of preprocessed images [n, 3, side,
/// side] drawn from a fixed seed (the same on every run): batches of 2 and 3 for a dynamic batch
/// axis, so that two sizes go through it, or two batches of `batch` for a fixed one.
std::vector<torch::Tensor> generated_batches(std::int64_t side, std::int64_t batch);

/// Splits `images` [N, 3, S, S] into batches of at most `batch` (0: one batch). With `pad` (a
/// fixed batch axis, which takes exactly `batch` images) the last batch is filled up with the
/// first images; the caller keeps the first N rows of the answers.
std::vector<torch::Tensor> split_batches(const torch::Tensor& images, std::int64_t batch, bool pad);

}  // namespace ftl
