// timm's Mixup and CutMix in "batch" mode (timm.data.Mixup, correct_lam on): one draw per
// batch, the batch mixed with itself reversed (image i with image n-1-i), and the targets
// mixed in the same proportion, label smoothing applied to each as timm's mixup_target does.
// The draws come from (train.seed, epoch, step, rank), so an epoch repeats exactly on resume.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "ftl/config/config.h"

namespace ftl {

/// Rows [y0, y1) and columns [x0, x1) of the box CutMix pastes; empty when y0 == y1 or x0 == x1.
struct CutMixBox {
  std::int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
};

/// What one batch gets.
struct MixDraw {
  bool cutmix = false;  // a box pasted, rather than a blend
  double lam = 1.0;     // the share of each image that stays its own; 1 = the batch unmixed
  CutMixBox box;        // with cutmix
};

/// timm's rand_bbox and lambda correction for an image of height x width: a box of sides
/// int(side x sqrt(1 - lam)) centred on (cy, cx), clipped to the image; the lambda returned
/// is 1 - the clipped box's share of the image.
MixDraw cutmix_draw(std::int64_t height, std::int64_t width, double lam, std::int64_t cy,
                    std::int64_t cx);

/// The draw of timm's _params_per_batch and _mix_batch for one batch, from `seed`: whether it
/// is mixed (prob), CutMix or mixup (switch_prob, when both alphas are above 0), lambda ~
/// Beta(alpha, alpha), and CutMix's box centre, uniform over the image.
MixDraw draw_mix(const MixupConfig& mixup, std::int64_t height, std::int64_t width,
                 std::uint64_t seed);

/// The seed of one batch's draw.
std::uint64_t mix_seed(std::uint64_t train_seed, std::int64_t epoch, std::int64_t step, int rank);

/// `images` [n, 3, h, w] (not changed) mixed as `draw` says: a blend lam x image + (1 - lam) x
/// reversed image, or the reversed batch's box pasted in.
torch::Tensor mix_images(const torch::Tensor& images, const MixDraw& draw);

struct MixedTargets {
  torch::Tensor targets;   // [n, classes]: each row's class probabilities, summing to 1
  torch::Tensor dominant;  // [n]: the label of the larger share (its own when lam >= 0.5)
};

/// The targets of the mixed images: lam x y + (1 - lam) x reversed y, where y is
/// 1 - s + s/classes on the label and s/classes elsewhere (s = label_smoothing).
MixedTargets mix_targets(const torch::Tensor& labels, std::int64_t classes, double label_smoothing,
                         const MixDraw& draw);

/// torch cross-entropy with class-probability targets: -sum_c w_c t_c log softmax(logits)_c
/// per image, averaged over the n images (PyTorch's mean for probability targets); `weights`
/// may be undefined.
torch::Tensor soft_target_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                               const torch::Tensor& weights);

}  // namespace ftl
