#include "ftl/image/auto_augment.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ftl {
namespace {

// The build batches sources together (unity build): these names are distinct from those of
// the other image files' anonymous namespaces (augment.cpp's kLuma, grey, ...).

/// The brightest level of 8-bit pixels, torchvision's bound for uint8 images.
constexpr double kTopLevel = 255.0;
/// Levels of an 8-bit channel, the size of equalize's histogram.
constexpr int kLevelCount = 256;
/// Bits of an 8-bit level, of which posterize keeps the top few.
constexpr int kLevelBits = 8;
/// rgb_to_grayscale's ITU-R 601 weights, as Python doubles (torchvision multiplies uint8
/// channels by these scalars, which the same float arithmetic needs).
constexpr double kGreyRed = 0.2989;
constexpr double kGreyGreen = 0.587;
constexpr double kGreyBlue = 0.114;
/// _blurred_degenerate_image's 3x3 kernel: ones with this centre weight, divided by their sum.
constexpr float kSmoothCentreWeight = 5.0F;
/// _gen_affine_grid's offset of a pixel's centre from its corner.
constexpr double kPixelCentre = 0.5;
/// CPython's Py_MATH_PI and its math.radians and math.degrees factors, so that angles round
/// as torchvision's do.
constexpr double kPyMathPi = 3.14159265358979323846;
constexpr double kDegreesToRadians = kPyMathPi / 180.0;
constexpr double kRadiansToDegrees = 180.0 / kPyMathPi;
/// Each signed operation is negated with this chance (torchvision's randint(2)).
constexpr std::uint64_t kSignChoices = 2;

/// RandAugment's translation: 150 pixels on the 331-pixel images of the AutoAugment paper,
/// scaled to the image's side.
constexpr double kRandTranslateShare = 150.0 / 331.0;
/// Posterize's bits fall from 8 by this many over the bins: TrivialAugmentWide 8..2,
/// RandAugment 8..4.
constexpr double kTrivialPosterizeDrop = 6.0;
constexpr double kRandPosterizeDrop = 4.0;

/// An operation's range of magnitudes over bins 0..30 (torchvision's linspace(low, high, 31)).
struct MagnitudeRange {
  double low = 0.0;
  double high = 0.0;
};

bool has_magnitude(AugmentOperation operation) {
  return operation != AugmentOperation::kIdentity && operation != AugmentOperation::kAutoContrast &&
         operation != AugmentOperation::kEqualize;
}

bool is_signed(AugmentOperation operation) {
  switch (operation) {
    case AugmentOperation::kShearX:
    case AugmentOperation::kShearY:
    case AugmentOperation::kTranslateX:
    case AugmentOperation::kTranslateY:
    case AugmentOperation::kRotate:
    case AugmentOperation::kBrightness:
    case AugmentOperation::kColor:
    case AugmentOperation::kContrast:
    case AugmentOperation::kSharpness:
      return true;
    default:
      return false;
  }
}

// TrivialAugmentWide._augmentation_space: wider ranges than RandAugment's, and a translation
// in pixels whatever the image's size.
MagnitudeRange trivial_wide_range(AugmentOperation operation) {
  switch (operation) {
    case AugmentOperation::kShearX:
    case AugmentOperation::kShearY:
      return {0.0, 0.99};
    case AugmentOperation::kTranslateX:
    case AugmentOperation::kTranslateY:
      return {0.0, 32.0};
    case AugmentOperation::kRotate:
      return {0.0, 135.0};
    case AugmentOperation::kSolarize:
      return {kTopLevel, 0.0};
    default:  // brightness, colour, contrast, sharpness
      return {0.0, 0.99};
  }
}

// RandAugment._augmentation_space(num_bins, image_size).
MagnitudeRange rand_range(AugmentOperation operation, std::int64_t width, std::int64_t height) {
  switch (operation) {
    case AugmentOperation::kShearX:
    case AugmentOperation::kShearY:
      return {0.0, 0.3};
    case AugmentOperation::kTranslateX:
      return {0.0, kRandTranslateShare * static_cast<double>(width)};
    case AugmentOperation::kTranslateY:
      return {0.0, kRandTranslateShare * static_cast<double>(height)};
    case AugmentOperation::kRotate:
      return {0.0, 30.0};
    case AugmentOperation::kSolarize:
      return {kTopLevel, 0.0};
    default:  // brightness, colour, contrast, sharpness
      return {0.0, 0.9};
  }
}

/// A standard normal draw by Box-Muller from two uniform draws: the same numbers on every
/// machine, where std::normal_distribution differs between standard libraries.
double standard_normal(SplitMix64& random) {
  const double radius_draw = 1.0 - random.uniform();  // in (0, 1], so that its log is finite
  const double angle_draw = random.uniform();
  return std::sqrt(-2.0 * std::log(radius_draw)) * std::cos(2.0 * kPyMathPi * angle_draw);
}

/// The bin of one RandAugment operation: the configured magnitude, or timm's noisy one.
double rand_bin(const RandAugment& settings, AugmentOperation operation, SplitMix64& random) {
  const auto bin = static_cast<double>(settings.magnitude);
  if (settings.magnitude_std <= 0 || !has_magnitude(operation)) return bin;
  return std::clamp(bin + settings.magnitude_std * standard_normal(random), 0.0, kMaxMagnitudeBin);
}

AugmentOperation drawn_operation(SplitMix64& random) {
  return static_cast<AugmentOperation>(
      random.below(static_cast<std::uint64_t>(kAugmentOperationCount)));
}

/// The drawn operation at `bin`, negated half of the time where it is signed.
OperationDraw signed_draw(AutoAugmentPolicy policy, AugmentOperation operation, double bin,
                          std::int64_t width, std::int64_t height, SplitMix64& random) {
  double magnitude = operation_magnitude(policy, operation, bin, width, height);
  if (is_signed(operation) && random.below(kSignChoices) == 1) magnitude = -magnitude;
  return {operation, magnitude};
}

// The operations below are torchvision's tensor functions on uint8 [3, H, W] images.

/// functional_tensor._blend: the mix computed in float, clamped and truncated back to uint8.
torch::Tensor blend_levels(const torch::Tensor& image, const torch::Tensor& other, double ratio) {
  return (image * ratio + other * (1.0 - ratio)).clamp(0, kTopLevel).to(torch::kUInt8);
}

/// rgb_to_grayscale: one channel [1, H, W], truncated to uint8 as torchvision's is.
torch::Tensor grey_channel(const torch::Tensor& image) {
  const torch::Tensor red = image[0];
  const torch::Tensor green = image[1];
  const torch::Tensor blue = image[2];
  return (red * kGreyRed + green * kGreyGreen + blue * kGreyBlue).to(torch::kUInt8).unsqueeze(0);
}

/// functional._get_inverse_affine_matrix at scale 1: the matrix that takes an output pixel,
/// relative to the image centre, to the input pixel it samples. `center` is relative to the
/// image centre too; angles are in degrees, clockwise.
std::array<double, 6> inverse_affine_matrix(std::array<double, 2> center, double angle,
                                            std::array<double, 2> translate,
                                            std::array<double, 2> shear) {
  const double rotation = angle * kDegreesToRadians;
  const double shear_x = shear[0] * kDegreesToRadians;
  const double shear_y = shear[1] * kDegreesToRadians;
  const auto [cx, cy] = center;
  const auto [tx, ty] = translate;
  const double a = std::cos(rotation - shear_y) / std::cos(shear_y);
  const double b =
      -std::cos(rotation - shear_y) * std::tan(shear_x) / std::cos(shear_y) - std::sin(rotation);
  const double c = std::sin(rotation - shear_y) / std::cos(shear_y);
  const double d =
      -std::sin(rotation - shear_y) * std::tan(shear_x) / std::cos(shear_y) + std::cos(rotation);
  std::array<double, 6> matrix = {d, -b, 0.0, -c, a, 0.0};
  matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty);
  matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty);
  matrix[2] += cx;
  matrix[5] += cy;
  return matrix;
}

/// functional_tensor._gen_affine_grid for an output of the input's size: the sampling grid
/// [1, H, W, 2] in grid_sample's [-1, 1] coordinates, computed in float as torchvision does, so
/// that nearest-neighbour sampling picks the same pixels.
torch::Tensor sampling_grid(const std::array<double, 6>& matrix, std::int64_t width,
                            std::int64_t height) {
  std::vector<float> entries;
  for (double entry : matrix) entries.push_back(static_cast<float>(entry));
  const torch::Tensor theta = torch::tensor(entries).reshape({1, 2, 3});
  const auto w = static_cast<double>(width);
  const auto h = static_cast<double>(height);
  torch::Tensor base = torch::empty({1, height, width, 3}, torch::kFloat32);
  base.select(3, 0).copy_(
      torch::linspace(-w * 0.5 + kPixelCentre, w * 0.5 + kPixelCentre - 1, width));
  base.select(3, 1).copy_(
      torch::linspace(-h * 0.5 + kPixelCentre, h * 0.5 + kPixelCentre - 1, height).unsqueeze(-1));
  base.select(3, 2).fill_(1);
  const torch::Tensor half_size =
      torch::tensor({static_cast<float>(0.5 * w), static_cast<float>(0.5 * h)});
  const torch::Tensor rescaled = theta.transpose(1, 2) / half_size;
  return base.view({1, height * width, 3}).bmm(rescaled).view({1, height, width, 2});
}

/// functional_tensor.affine with NEAREST and fill None: pixels outside the image are 0.
torch::Tensor affine_levels(const torch::Tensor& image, const std::array<double, 6>& matrix) {
  namespace F = torch::nn::functional;
  const torch::Tensor grid = sampling_grid(matrix, image.size(2), image.size(1));
  const torch::Tensor sampled = F::grid_sample(image.unsqueeze(0).to(torch::kFloat32), grid,
                                               F::GridSampleFuncOptions()
                                                   .mode(torch::kNearest)
                                                   .padding_mode(torch::kZeros)
                                                   .align_corners(false));
  return sampled.squeeze(0).round().to(torch::kUInt8);
}

// _apply_op's ShearX / ShearY: F.affine with center [0, 0], the top-left corner (relative to
// the centre: minus half the size), and a shear angle of atan(magnitude) in degrees.
torch::Tensor shear_levels(const torch::Tensor& image, double magnitude, bool along_x) {
  const double angle = std::atan(magnitude) * kRadiansToDegrees;
  const std::array<double, 2> corner = {-(static_cast<double>(image.size(2)) * 0.5),
                                        -(static_cast<double>(image.size(1)) * 0.5)};
  const std::array<double, 2> shear =
      along_x ? std::array<double, 2>{angle, 0.0} : std::array<double, 2>{0.0, angle};
  return affine_levels(image, inverse_affine_matrix(corner, 0.0, {0.0, 0.0}, shear));
}

// _apply_op's TranslateX / TranslateY: whole pixels, the magnitude truncated as Python's int().
torch::Tensor translate_levels(const torch::Tensor& image, double magnitude, bool along_x) {
  const auto pixels = static_cast<double>(static_cast<std::int64_t>(magnitude));
  const std::array<double, 2> shift =
      along_x ? std::array<double, 2>{pixels, 0.0} : std::array<double, 2>{0.0, pixels};
  return affine_levels(image, inverse_affine_matrix({0.0, 0.0}, 0.0, shift, {0.0, 0.0}));
}

// F.rotate about the centre: counter-clockwise for a positive angle, so the matrix's
// (clockwise) angle is negated, as functional.rotate does.
torch::Tensor rotate_levels(const torch::Tensor& image, double degrees) {
  return affine_levels(image, inverse_affine_matrix({0.0, 0.0}, -degrees, {0.0, 0.0}, {0.0, 0.0}));
}

torch::Tensor contrast_levels(const torch::Tensor& image, double factor) {
  const torch::Tensor mean =
      grey_channel(image).to(torch::kFloat32).mean({-3, -2, -1}, /*keepdim=*/true);
  return blend_levels(image, mean, factor);
}

// adjust_sharpness: blend with the image smoothed by a 3x3 kernel, its border pixels kept.
torch::Tensor sharpness_levels(const torch::Tensor& image, double factor) {
  if (image.size(1) <= 2 || image.size(2) <= 2) return image;
  torch::Tensor kernel = torch::ones({3, 3}, torch::kFloat32);
  kernel[1][1] = kSmoothCentreWeight;
  kernel /= kernel.sum();
  namespace F = torch::nn::functional;
  const torch::Tensor smoothed =
      F::conv2d(image.unsqueeze(0).to(torch::kFloat32), kernel.expand({3, 1, 3, 3}),
                F::Conv2dFuncOptions().groups(3))  // one kernel per channel
          .squeeze(0)
          .round()
          .to(torch::kUInt8);
  torch::Tensor degenerate = image.clone();
  degenerate.slice(1, 1, -1).slice(2, 1, -1).copy_(smoothed);
  return blend_levels(image, degenerate, factor);
}

// posterize: keeps the top `bits` bits of each level (torchvision's img & -2^(8 - bits)).
torch::Tensor posterize_levels(const torch::Tensor& image, double magnitude) {
  const auto bits = static_cast<std::int64_t>(magnitude);  // Python's int(): truncated
  if (bits < 0 || bits > kLevelBits) {
    throw std::invalid_argument("posterize keeps 0 to 8 bits, got " + std::to_string(bits));
  }
  const std::int64_t mask = kLevelCount - (std::int64_t{1} << (kLevelBits - bits));
  return image.bitwise_and(mask);
}

// solarize: levels at or above the threshold are inverted (compared in float, as torch does).
torch::Tensor solarize_levels(const torch::Tensor& image, double threshold) {
  return torch::where(image >= threshold, kTopLevel - image, image);
}

// autocontrast: each channel stretched to 0..255. Python's 255.0 / tensor is
// tensor.reciprocal() * 255.0 (Tensor.__rdiv__), written so here for the same rounding.
torch::Tensor autocontrast_levels(const torch::Tensor& image) {
  torch::Tensor minimum = image.amin({-2, -1}, /*keepdim=*/true).to(torch::kFloat32);
  const torch::Tensor maximum = image.amax({-2, -1}, /*keepdim=*/true).to(torch::kFloat32);
  torch::Tensor scale = (maximum - minimum).reciprocal() * kTopLevel;
  const torch::Tensor flat = torch::isfinite(scale).logical_not();  // one level: left as it is
  minimum.masked_fill_(flat, 0);
  scale.masked_fill_(flat, 1);
  return ((image - minimum) * scale).clamp(0, kTopLevel).to(torch::kUInt8);
}

// equalize's _scale_channel on one contiguous uint8 channel, in place: levels mapped through
// the cumulative histogram in steps of (all pixels but those of the top level) / 255, integer
// arithmetic throughout as torchvision's; a channel with too few levels is left as it is.
void equalize_channel(torch::Tensor channel) {
  std::uint8_t* levels = channel.data_ptr<std::uint8_t>();
  const std::int64_t count = channel.numel();
  std::array<std::int64_t, kLevelCount> histogram{};
  for (std::int64_t i = 0; i < count; ++i) ++histogram[levels[i]];
  int top = kLevelCount - 1;
  while (histogram[static_cast<std::size_t>(top)] == 0) --top;
  const std::int64_t step =
      (count - histogram[static_cast<std::size_t>(top)]) / static_cast<std::int64_t>(kTopLevel);
  if (step == 0) return;
  std::array<std::uint8_t, kLevelCount> table{};  // table[0] = 0: the lut is shifted by one
  std::int64_t cumulative = 0;
  for (std::size_t level = 1; level < table.size(); ++level) {
    cumulative += histogram[level - 1];
    table[level] = static_cast<std::uint8_t>(
        std::min<std::int64_t>((cumulative + step / 2) / step, kLevelCount - 1));
  }
  for (std::int64_t i = 0; i < count; ++i) levels[i] = table[levels[i]];
}

torch::Tensor equalize_levels(const torch::Tensor& image) {
  torch::Tensor result = image.clone(at::MemoryFormat::Contiguous);
  for (std::int64_t channel = 0; channel < result.size(0); ++channel) {
    equalize_channel(result[channel]);
  }
  return result;
}

/// _apply_op on a uint8 [3, H, W] image: a new tensor, or `image` itself where nothing changes.
torch::Tensor apply_to_levels(const torch::Tensor& image, AugmentOperation operation,
                              double magnitude) {
  switch (operation) {
    case AugmentOperation::kIdentity:
      return image;
    case AugmentOperation::kShearX:
      return shear_levels(image, magnitude, /*along_x=*/true);
    case AugmentOperation::kShearY:
      return shear_levels(image, magnitude, /*along_x=*/false);
    case AugmentOperation::kTranslateX:
      return translate_levels(image, magnitude, /*along_x=*/true);
    case AugmentOperation::kTranslateY:
      return translate_levels(image, magnitude, /*along_x=*/false);
    case AugmentOperation::kRotate:
      return rotate_levels(image, magnitude);
    case AugmentOperation::kBrightness:  // blend with black
      return blend_levels(image, torch::zeros_like(image), 1.0 + magnitude);
    case AugmentOperation::kColor:  // adjust_saturation: blend with each pixel's grey
      return blend_levels(image, grey_channel(image), 1.0 + magnitude);
    case AugmentOperation::kContrast:
      return contrast_levels(image, 1.0 + magnitude);
    case AugmentOperation::kSharpness:
      return sharpness_levels(image, 1.0 + magnitude);
    case AugmentOperation::kPosterize:
      return posterize_levels(image, magnitude);
    case AugmentOperation::kSolarize:
      return solarize_levels(image, magnitude);
    case AugmentOperation::kAutoContrast:
      return autocontrast_levels(image);
    case AugmentOperation::kEqualize:
      return equalize_levels(image);
  }
  return image;  // not reached: -Wswitch checks that every operation is handled
}

/// The uint8 levels that the operations work on (the caller's float levels are whole already).
torch::Tensor to_levels(const torch::Tensor& pixels) {
  if (pixels.dim() != 3 || pixels.size(0) != 3) {
    throw std::invalid_argument("auto augment takes [3, H, W] pixels, got " +
                                std::to_string(pixels.dim()) + " dimensions");
  }
  return pixels.to(torch::kUInt8).contiguous();
}

}  // namespace

const char* to_string(AugmentOperation operation) {
  switch (operation) {
    case AugmentOperation::kIdentity:
      return "Identity";
    case AugmentOperation::kShearX:
      return "ShearX";
    case AugmentOperation::kShearY:
      return "ShearY";
    case AugmentOperation::kTranslateX:
      return "TranslateX";
    case AugmentOperation::kTranslateY:
      return "TranslateY";
    case AugmentOperation::kRotate:
      return "Rotate";
    case AugmentOperation::kBrightness:
      return "Brightness";
    case AugmentOperation::kColor:
      return "Color";
    case AugmentOperation::kContrast:
      return "Contrast";
    case AugmentOperation::kSharpness:
      return "Sharpness";
    case AugmentOperation::kPosterize:
      return "Posterize";
    case AugmentOperation::kSolarize:
      return "Solarize";
    case AugmentOperation::kAutoContrast:
      return "AutoContrast";
    case AugmentOperation::kEqualize:
      return "Equalize";
  }
  return "";
}

double operation_magnitude(AutoAugmentPolicy policy, AugmentOperation operation, double bin,
                           std::int64_t width, std::int64_t height) {
  if (policy == AutoAugmentPolicy::kNone || !has_magnitude(operation)) return 0.0;
  const bool trivial = policy == AutoAugmentPolicy::kTrivialWide;
  if (operation == AugmentOperation::kPosterize) {
    // torchvision: 8 - (arange(31) / (30 / drop)).round(), rounding half to even.
    const double drop = trivial ? kTrivialPosterizeDrop : kRandPosterizeDrop;
    return kLevelBits - std::nearbyint(bin / (kMaxMagnitudeBin / drop));
  }
  const MagnitudeRange range =
      trivial ? trivial_wide_range(operation) : rand_range(operation, width, height);
  return range.low + (range.high - range.low) * bin / kMaxMagnitudeBin;
}

std::vector<OperationDraw> draw_operations(const Augment& augment, std::int64_t width,
                                           std::int64_t height, SplitMix64& random) {
  std::vector<OperationDraw> draws;
  const AutoAugmentPolicy policy = augment.auto_augment;
  if (policy == AutoAugmentPolicy::kTrivialWide) {
    const AugmentOperation operation = drawn_operation(random);
    const double bin =
        has_magnitude(operation)
            ? static_cast<double>(random.below(static_cast<std::uint64_t>(kMagnitudeBins)))
            : 0.0;
    draws.push_back(signed_draw(policy, operation, bin, width, height, random));
  } else if (policy == AutoAugmentPolicy::kRand) {
    for (std::int64_t i = 0; i < augment.rand_augment.num_ops; ++i) {
      const AugmentOperation operation = drawn_operation(random);
      const double bin = rand_bin(augment.rand_augment, operation, random);
      draws.push_back(signed_draw(policy, operation, bin, width, height, random));
    }
  }
  return draws;
}

void apply_operation(torch::Tensor& pixels, AugmentOperation operation, double magnitude) {
  pixels = apply_to_levels(to_levels(pixels), operation, magnitude).to(pixels.scalar_type());
}

void apply_auto_augment(torch::Tensor& pixels, const Augment& augment, SplitMix64& random) {
  if (augment.auto_augment == AutoAugmentPolicy::kNone) return;
  torch::Tensor levels = to_levels(pixels);
  const std::vector<OperationDraw> draws =
      draw_operations(augment, levels.size(2), levels.size(1), random);
  for (const OperationDraw& draw : draws) {
    levels = apply_to_levels(levels, draw.operation, draw.magnitude);
  }
  pixels = levels.to(pixels.scalar_type());
}

}  // namespace ftl
