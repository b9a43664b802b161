#include "ftl/train/mixup.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "ftl/util/random.h"

namespace ftl {
namespace {

// Beta(alpha, alpha) as X / (X + Y) of two Gamma(alpha) draws: LibTorch's gamma sampler, on
// a generator seeded from the batch's draw.
double beta_draw(double alpha, std::uint64_t seed) {
  // Its mt19937 keeps 32 bits of a seed: both halves of the 64 folded in.
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed ^ (seed >> 32U));
  const torch::Tensor shapes = torch::full({2}, alpha, torch::kFloat64);
  const torch::Tensor gammas = at::_standard_gamma(shapes, generator);
  const double x = gammas[0].item<double>();
  const double y = gammas[1].item<double>();
  // Both underflow to 0 only for alphas far below any recipe's; the batch then stays as it is.
  return x + y > 0 ? x / (x + y) : 1.0;
}

std::int64_t clipped(std::int64_t value, std::int64_t high) {
  return std::clamp<std::int64_t>(value, 0, high);
}

}  // namespace

MixDraw cutmix_draw(std::int64_t height, std::int64_t width, double lam, std::int64_t cy,
                    std::int64_t cx) {
  const double ratio = std::sqrt(1.0 - lam);
  const auto cut_h = static_cast<std::int64_t>(static_cast<double>(height) * ratio);
  const auto cut_w = static_cast<std::int64_t>(static_cast<double>(width) * ratio);
  MixDraw draw;
  draw.cutmix = true;
  draw.box = {clipped(cy - cut_h / 2, height), clipped(cy + cut_h / 2, height),
              clipped(cx - cut_w / 2, width), clipped(cx + cut_w / 2, width)};
  const auto area = static_cast<double>((draw.box.y1 - draw.box.y0) * (draw.box.x1 - draw.box.x0));
  draw.lam = 1.0 - area / static_cast<double>(height * width);
  return draw;
}

MixDraw draw_mix(const MixupConfig& mixup, std::int64_t height, std::int64_t width,
                 std::uint64_t seed) {
  SplitMix64 random(seed);
  MixDraw unmixed;
  if (!mixup.enabled() || random.uniform() >= mixup.prob) return unmixed;
  bool cutmix = mixup.cutmix_alpha > 0;
  if (mixup.mixup_alpha > 0 && mixup.cutmix_alpha > 0)
    cutmix = random.uniform() < mixup.switch_prob;
  const double lam = beta_draw(cutmix ? mixup.cutmix_alpha : mixup.mixup_alpha, random.next());
  if (!cutmix) {
    MixDraw blend;
    blend.lam = lam;
    return blend;
  }
  const auto cy = static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(height)));
  const auto cx = static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(width)));
  return cutmix_draw(height, width, lam, cy, cx);
}

std::uint64_t mix_seed(std::uint64_t train_seed, std::int64_t epoch, std::int64_t step, int rank) {
  // Apart from the images' augmentation seeds, which mix (seed, epoch, index) alike.
  constexpr std::uint64_t kMixupStream = 0x6D69787570ULL;  // "mixup"
  std::uint64_t value = mix64(train_seed ^ kMixupStream);
  for (const std::int64_t part : {epoch, step, static_cast<std::int64_t>(rank)}) {
    value = mix64(value ^ static_cast<std::uint64_t>(part));
  }
  return value;
}

torch::Tensor mix_images(const torch::Tensor& images, const MixDraw& draw) {
  if (draw.lam == 1.0) return images;
  if (!draw.cutmix) return images * draw.lam + images.flip(0) * (1.0 - draw.lam);
  torch::Tensor mixed = images.clone();
  using torch::indexing::Slice;
  const auto rows = Slice(draw.box.y0, draw.box.y1);
  const auto columns = Slice(draw.box.x0, draw.box.x1);
  mixed.index_put_({Slice(), Slice(), rows, columns},
                   images.flip(0).index({Slice(), Slice(), rows, columns}));
  return mixed;
}

MixedTargets mix_targets(const torch::Tensor& labels, std::int64_t classes, double label_smoothing,
                         const MixDraw& draw) {
  const double off = label_smoothing / static_cast<double>(classes);
  const double on = 1.0 - label_smoothing + off;
  const torch::Tensor one_hot =
      torch::full({labels.size(0), classes}, off, labels.options().dtype(torch::kFloat32))
          .scatter_(1, labels.view({-1, 1}), on);
  return {one_hot * draw.lam + one_hot.flip(0) * (1.0 - draw.lam),
          draw.lam >= 0.5 ? labels : labels.flip(0)};
}

torch::Tensor soft_target_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                               const torch::Tensor& weights) {
  auto options = torch::nn::functional::CrossEntropyFuncOptions();
  if (weights.defined()) options.weight(weights);
  return torch::nn::functional::cross_entropy(logits, targets, options);
}

}  // namespace ftl
