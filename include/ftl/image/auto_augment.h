// Automatic augmentation policies, torchvision 0.14's TrivialAugmentWide and RandAugment: random
// image operations (shear, translate, rotate, colour, posterize, ...) applied to the training
// crop after the flip (augment.h). Each operation reproduces torchvision's tensor implementation
// on 8-bit levels (functional_tensor.py, with interpolation NEAREST and fill zeros, the
// policies' defaults), and tests/e2e/auto_augment_test.cpp compares it with torchvision's.
//
// The randomness is split in two so that a test can pin each half: draw_operations() chooses
// the operations and their magnitudes from the image's SplitMix64 stream (a pure function of
// the stream), and apply_operation() applies one.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ftl/config/data_config.h"
#include "ftl/util/random.h"

namespace ftl {

/// The operations of both policies, in the order of torchvision's _augmentation_space (the same
/// 14 for TrivialAugmentWide and RandAugment): a drawn index is a value of this enum.
enum class AugmentOperation {
  kIdentity,
  kShearX,
  kShearY,
  kTranslateX,
  kTranslateY,
  kRotate,
  kBrightness,
  kColor,
  kContrast,
  kSharpness,
  kPosterize,
  kSolarize,
  kAutoContrast,
  kEqualize,
};

/// How many operations a policy draws from (every value of AugmentOperation).
inline constexpr std::int64_t kAugmentOperationCount = 14;

/// torchvision's num_magnitude_bins default: magnitudes are bins 0..30 over each range.
inline constexpr std::int64_t kMagnitudeBins = 31;

/// The highest magnitude bin, the strongest setting of every operation.
inline constexpr double kMaxMagnitudeBin = static_cast<double>(kMagnitudeBins - 1);

/// torchvision's name of an operation (the op_name of _apply_op), e.g. "ShearX".
const char* to_string(AugmentOperation operation);

/// One drawn operation, with its magnitude as torchvision's _apply_op takes it: signed where
/// the operation is (shear as tan of the angle, translate in pixels, rotate in degrees, colour
/// ops as factor - 1), posterize's bits, solarize's threshold, 0 for the others.
struct OperationDraw {
  AugmentOperation operation = AugmentOperation::kIdentity;
  double magnitude = 0.0;
};

/// The unsigned magnitude of `operation` under `policy` at magnitude bin `bin` (0..30, a
/// fraction allowed) for a width x height image: low + (high - low) x bin / 30, which is
/// torchvision's linspace value at a whole bin (in double, torchvision's in float: they differ
/// by less than 2e-6). Posterize's bits are 8 - round(bin / 5) (TrivialAugmentWide) or
/// 8 - round(bin / 7.5) (RandAugment). 0 for Identity, AutoContrast, Equalize and policy none.
double operation_magnitude(AutoAugmentPolicy policy, AugmentOperation operation, double bin,
                           std::int64_t width, std::int64_t height);

/// The operations `augment.auto_augment` applies to one width x height image, drawn from
/// `random` in this order (none for policy none, so the stream is left as it was):
/// - TrivialAugmentWide: the operation (below(14)); for an operation with a magnitude range, its
///   bin (below(31)); for a signed one, the sign (below(2) == 1: negated).
/// - RandAugment, num_ops times: the operation (below(14)), with replacement; where
///   magnitude_std > 0 and the operation has a range, two uniform() draws that give a normal
///   N(magnitude, magnitude_std) by Box-Muller, clipped to 0..30 (timm's mstd; else the bin is
///   rand_augment.magnitude itself); for a signed operation, the sign (below(2) == 1: negated).
std::vector<OperationDraw> draw_operations(const Augment& augment, std::int64_t width,
                                           std::int64_t height, SplitMix64& random);

/// Applies one operation to `pixels` [3, H, W] of whole levels 0..255, uint8 or float (a float
/// tensor must hold whole levels, as resize_levels returns them). The work is done in uint8,
/// rounded and clamped as torchvision's tensor functions do, and `pixels` is replaced by the
/// result in its own dtype: whole levels again.
void apply_operation(torch::Tensor& pixels, AugmentOperation operation, double magnitude);

/// The whole policy on one image's pixels (as apply_operation takes them): draw_operations for
/// its size, then each operation in turn. Nothing is drawn or changed under policy none.
void apply_auto_augment(torch::Tensor& pixels, const Augment& augment, SplitMix64& random);

}  // namespace ftl
