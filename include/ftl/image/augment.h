// Random training augmentation, torchvision's ImageNet training recipe: RandomResizedCrop,
// RandomHorizontalFlip and, optionally, an automatic augmentation policy (TrivialAugmentWide or
// RandAugment, auto_augment.h), ColorJitter of brightness, contrast and saturation, and
// RandomErasing of the normalised input.
// Each image's randomness comes from its own seed (run seed, epoch, sample index), so an epoch
// is the same whatever the number of workers, and a resumed epoch repeats exactly.
//
// The crop is cut from the base image (preprocess.h), the shorter side already resized to
// data.resize, instead of from the full-size file: the base can then be cached across epochs.
// The settings (Augment, config/data_config.h) are the config's own.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>

#include "ftl/config/data_config.h"
#include "ftl/image/image.h"
#include "ftl/image/preprocess.h"
#include "ftl/util/random.h"

namespace ftl {

/// A rectangle of an image, in pixels.
struct CropBox {
  std::int64_t left = 0;
  std::int64_t top = 0;
  std::int64_t width = 0;
  std::int64_t height = 0;
};

/// RandomResizedCrop.get_params: up to 10 tries at a box of random area and aspect ratio
/// that fits, else the largest centred box whose ratio is within range.
CropBox random_resized_crop_box(std::int64_t width, std::int64_t height, const Augment& augment,
                                SplitMix64& random);

/// torchvision's RandomErasing.get_params on an input of `width` x `height`: up to 10 tries at
/// a box of random area (scale) and log-uniform height / width (ratio) smaller than the image
/// on both sides; none fits: no box (width 0), and the image is left as it is.
CropBox random_erasing_box(std::int64_t width, std::int64_t height, const RandomErasing& erasing,
                           SplitMix64& random);

/// RandomErasing: with probability erasing.p, one random_erasing_box of `input` (float
/// [3, H, W], normalised) is filled with erasing.value or, when random, with normal noise.
void erase_randomly(torch::Tensor& input, const RandomErasing& erasing, SplitMix64& random);

/// The seed of one image's augmentation in one epoch.
std::uint64_t augment_seed(std::uint64_t run_seed, std::int64_t epoch, std::size_t sample_index);

/// Writes one randomly augmented training input into `out` (float [3, S, S]): crop, resize to
/// S x S, flip, the auto-augment policy's operations, jitter, scale and normalise as eval_into
/// does, then random erasing. All draw from one stream seeded by `seed`, in that order; policy
/// none draws nothing, so its output is the same as before the policies existed.
void augment_into(const Image& base, const Preprocess& preprocess, const Augment& augment,
                  std::uint64_t seed, torch::Tensor out);

}  // namespace ftl
