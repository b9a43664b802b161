// The data section of the run configuration: where the images are, how each becomes the
// network's input (Preprocess), how training augments it (Augment), and how batches are loaded.
// Preprocess and Augment are the very settings that the image functions take (image/preprocess.h,
// image/augment.h) and that checkpoints store: the config holds them as they are, so each
// default is written here once. Their JSON keys stay flat (data.image_size, data.crop_scale):
// the option table (src/config/option_rows.cpp) maps each key to its field.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "ftl/config/choices.h"

namespace ftl {

/// torchvision's ImageNet statistics, which the pretrained ResNet-18 expects.
inline constexpr std::array<float, 3> kImageNetMean = {0.485F, 0.456F, 0.406F};
inline constexpr std::array<float, 3> kImageNetStd = {0.229F, 0.224F, 0.225F};

/// How an image becomes the network's input, in training (without augmentation), evaluation and
/// prediction alike.
struct Preprocess {
  std::int64_t image_size = 224;  // side of the square network input, in pixels
  std::int64_t resize = 0;        // center_crop: the shorter side before the crop; 0 = image_size
                                  // x 256/224, torchvision's Resize(256) + CenterCrop(224)
  EvalResize eval_resize = EvalResize::kCenterCrop;  // crop the centre, or stretch to the square
  bool exif_orientation = true;                      // turn photos upright by their EXIF tag
  bool jpeg_dct_scaling = true;                      // decode large JPEGs at 1/2, 1/4 or 1/8 scale
  std::array<float, 3> mean = kImageNetMean;  // subtracted per RGB channel after scaling (not an
                                              // option: the checkpoint records it)
  std::array<float, 3> std = kImageNetStd;    // divided per RGB channel after the mean (likewise)
};

/// What random erasing writes into its box.
struct ErasingFill {
  bool random = true;  // normal noise, one draw per pixel and channel (torchvision's "random")
  double value = 0;    // when not random: this value, on the normalised input
  bool operator==(const ErasingFill& other) const {
    return random == other.random && value == other.value;
  }
  bool operator!=(const ErasingFill& other) const { return !(*this == other); }
};

/// torchvision's RandomErasing, on the normalised input after crop, flip and jitter.
struct RandomErasing {
  double p = 0.0;                              // chance that an image gets one box; 0 = off
  std::array<double, 2> scale = {0.02, 0.33};  // the box's area as a share of the image
  std::array<double, 2> ratio = {0.3, 3.3};    // the box's height / width, log-uniform
  ErasingFill value;                           // "random", or a number
  bool operator==(const RandomErasing& other) const {
    return p == other.p && scale == other.scale && ratio == other.ratio && value == other.value;
  }
  bool operator!=(const RandomErasing& other) const { return !(*this == other); }
};

/// RandAugment's settings (data.rand_augment.*). Magnitudes are bins of torchvision's 31
/// (0..30) over each operation's range; magnitude_std adds timm's noise (mstd) to each draw.
struct RandAugment {
  std::int64_t num_ops = 2;    // operations applied to each image, drawn with replacement
  std::int64_t magnitude = 9;  // the bin of every operation's strength, 0..30
  double magnitude_std = 0.5;  // > 0: each magnitude ~ N(magnitude, this), clipped to 0..30
  bool operator==(const RandAugment& other) const {
    return num_ops == other.num_ops && magnitude == other.magnitude &&
           magnitude_std == other.magnitude_std;
  }
  bool operator!=(const RandAugment& other) const { return !(*this == other); }
};

/// Random training augmentation: torchvision's ImageNet training recipe.
struct Augment {
  bool enabled = false;                                  // off: training uses the eval transform
  std::array<double, 2> scale = {0.08, 1.0};             // crop area as a share of the image
  std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0};  // crop width / height
  bool hflip = true;                                     // mirror half of the images
  double color_jitter = 0.0;  // brightness, contrast and saturation factors in [1-j, 1+j]
  AutoAugmentPolicy auto_augment = AutoAugmentPolicy::kNone;  // none, trivial_wide or rand
  RandAugment rand_augment;  // data.rand_augment.*: used when auto_augment is rand
  RandomErasing erasing;     // data.random_erasing.*: off unless its p is above 0
};

struct DataConfig {
  std::string train;          // training images: ImageFolder root or CSV manifest (required)
  std::string val;            // validation images: ImageFolder root or CSV manifest (required
                              // unless val_fraction is set)
  double val_fraction = 0.0;  // > 0: hold out this share of each class of data.train for
                              // validation instead (stratified, seeded by train.seed)
  Preprocess preprocess;      // data.image_size, resize, eval_resize, exif_orientation and
                              // jpeg_dct_scaling
  Augment augment;  // data.augment (enabled), crop_scale, crop_ratio, hflip, color_jitter,
                    // auto_augment, rand_augment and random_erasing
  DataCache cache = DataCache::kNone;                    // memory: keep decoded images
  std::int64_t cache_max_bytes = std::int64_t{4} << 30;  // the memory cache's budget
  std::int64_t batch_size = 32;                          // images per batch (forward pass)
  std::int64_t workers = 0;   // image-decoding threads; 0 = one per 4 cores, at least 1
  std::int64_t prefetch = 0;  // batches decoded ahead at most; 0 = 2 x workers
  BadImagePolicy on_bad_image = BadImagePolicy::kError;  // stop the run, or skip and list it
};

}  // namespace ftl
