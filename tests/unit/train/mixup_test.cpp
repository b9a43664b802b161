#include "ftl/train/mixup.h"

#include <catch2/catch.hpp>

namespace {

ftl::MixDraw cutmix_of(double lam, ftl::CutMixBox box) {
  ftl::MixDraw draw;
  draw.cutmix = true;
  draw.lam = lam;
  draw.box = box;
  return draw;
}

}  // namespace

TEST_CASE("mixup: CutMix's box is timm's rand_bbox, and lambda is corrected for clipping",
          "[mixup]") {
  // lam 0.64: sides int(10 x 0.6) = 6, half 3 on each side of the centre.
  const ftl::MixDraw inside = ftl::cutmix_draw(10, 10, 0.64, 5, 5);
  CHECK(inside.cutmix);
  CHECK((inside.box.y0 == 2 && inside.box.y1 == 8 && inside.box.x0 == 2 && inside.box.x1 == 8));
  CHECK(inside.lam == Approx(1.0 - 36.0 / 100.0));
  // Centred near a corner, the box is cut to rows 0-3 and columns 6-9: 16 pixels, not 36.
  const ftl::MixDraw clipped = ftl::cutmix_draw(10, 10, 0.64, 1, 9);
  CHECK(
      (clipped.box.y0 == 0 && clipped.box.y1 == 4 && clipped.box.x0 == 6 && clipped.box.x1 == 10));
  CHECK(clipped.lam == Approx(1.0 - 16.0 / 100.0));
  // Not square: 8 rows x 20 columns, lam 0.75: sides int(8 x 0.5) = 4 and 10.
  const ftl::MixDraw wide = ftl::cutmix_draw(8, 20, 0.75, 4, 10);
  CHECK((wide.box.y0 == 2 && wide.box.y1 == 6 && wide.box.x0 == 5 && wide.box.x1 == 15));
  CHECK(wide.lam == Approx(1.0 - 40.0 / 160.0));
}

TEST_CASE("mixup: CutMix pastes the reversed batch's box, targets mixed by the area", "[mixup]") {
  const torch::Tensor images =
      torch::stack({torch::full({1, 4, 4}, 1.0), torch::full({1, 4, 4}, 2.0)});
  const torch::Tensor labels = torch::tensor({0, 1}, torch::kLong);
  const ftl::MixDraw draw = cutmix_of(0.75, {0, 2, 0, 2});
  const torch::Tensor mixed_images = ftl::mix_images(images, draw);
  const ftl::MixedTargets mixed = ftl::mix_targets(labels, 3, /*label_smoothing=*/0.3, draw);
  const torch::Tensor expected_first = torch::tensor(
      {2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0});
  CHECK(mixed_images[0].flatten().equal(expected_first.to(torch::kFloat32)));
  CHECK(mixed_images[1].flatten().equal((3.0 - expected_first).to(torch::kFloat32)));
  CHECK(images[0].eq(1.0).all().item<bool>());  // the input is left as it was
  // Smoothing 0.3 over 3 classes: 0.8 on the label, 0.1 elsewhere; then 0.75 / 0.25.
  const torch::Tensor targets = torch::tensor({{0.625, 0.275, 0.1}, {0.275, 0.625, 0.1}});
  CHECK(torch::allclose(mixed.targets, targets.to(torch::kFloat32), 0, 1e-6));
  CHECK(mixed.dominant.equal(labels));
}

TEST_CASE("mixup: the blend is lam x image + (1 - lam) x the reversed one", "[mixup]") {
  torch::manual_seed(4);
  const torch::Tensor images = torch::rand({3, 3, 5, 5});
  const torch::Tensor labels = torch::tensor({2, 0, 1}, torch::kLong);
  ftl::MixDraw blend;
  blend.lam = 0.3;
  const torch::Tensor mixed_images = ftl::mix_images(images, blend);
  const ftl::MixedTargets mixed = ftl::mix_targets(labels, 3, 0.0, blend);
  CHECK(torch::allclose(mixed_images[0], 0.3 * images[0] + 0.7 * images[2], 0, 1e-6));
  CHECK(torch::allclose(mixed_images[1], images[1], 0, 1e-6));  // the middle meets itself
  CHECK(torch::allclose(mixed.targets[0], torch::tensor({0.0f, 0.7f, 0.3f}), 0, 1e-6));
  CHECK(torch::allclose(mixed.targets[1], torch::tensor({1.0f, 0.0f, 0.0f}), 0, 1e-6));
  // Below one half the reversed image's label dominates.
  CHECK(mixed.dominant.equal(torch::tensor({1, 0, 2}, torch::kLong)));
  // lam 1: the batch as it is, the one-hot (smoothed) targets.
  CHECK(ftl::mix_images(images, ftl::MixDraw{}).equal(images));
  CHECK(ftl::mix_targets(labels, 3, 0.0, ftl::MixDraw{}).targets.argmax(1).equal(labels));
}

TEST_CASE("mixup: the draws follow prob, switch_prob and Beta(alpha, alpha), seeded per batch",
          "[mixup]") {
  ftl::MixupConfig both;
  both.mixup_alpha = 0.8;
  both.cutmix_alpha = 1.0;
  constexpr int kBatches = 4000;
  int cutmixes = 0;
  double lam_sum = 0;
  double lam_squares = 0;
  int blends = 0;
  for (int step = 0; step < kBatches; ++step) {
    const ftl::MixDraw draw = ftl::draw_mix(both, 32, 32, ftl::mix_seed(7, 1, step, 0));
    if (draw.cutmix) {
      ++cutmixes;
      CHECK(draw.box.y1 <= 32);
      continue;
    }
    ++blends;
    lam_sum += draw.lam;
    lam_squares += draw.lam * draw.lam;
  }
  CHECK(cutmixes == Approx(kBatches / 2).margin(150));
  // Beta(0.8, 0.8): mean 1/2, variance 1 / (4 (2 x 0.8 + 1)) = 0.0962.
  const double mean = lam_sum / blends;
  CHECK(mean == Approx(0.5).margin(0.02));
  CHECK(lam_squares / blends - mean * mean == Approx(0.0962).margin(0.01));
  // The same (seed, epoch, step, rank), the same draw; another rank, another.
  const ftl::MixDraw once = ftl::draw_mix(both, 32, 32, ftl::mix_seed(7, 2, 5, 0));
  const ftl::MixDraw again = ftl::draw_mix(both, 32, 32, ftl::mix_seed(7, 2, 5, 0));
  CHECK((once.cutmix == again.cutmix && once.lam == again.lam && once.box.x0 == again.box.x0));
  CHECK(ftl::mix_seed(7, 2, 5, 0) != ftl::mix_seed(7, 2, 5, 1));

  ftl::MixupConfig never = both;
  never.prob = 0.0;
  CHECK(ftl::draw_mix(never, 32, 32, 1).lam == 1.0);
  ftl::MixupConfig cutmix_only;
  cutmix_only.cutmix_alpha = 1.0;
  ftl::MixupConfig mixup_only;
  mixup_only.mixup_alpha = 0.8;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    CHECK(ftl::draw_mix(cutmix_only, 32, 32, seed).cutmix);
    const ftl::MixDraw blend = ftl::draw_mix(mixup_only, 32, 32, seed);
    CHECK_FALSE(blend.cutmix);
    CHECK((blend.lam > 0 && blend.lam < 1));
  }
}

TEST_CASE("mixup: the loss is cross-entropy on the mixed targets, class weights applied",
          "[mixup]") {
  const torch::Tensor logits = torch::tensor({{2.0f, 0.5f, -1.0f}, {0.0f, 1.0f, 0.3f}});
  const torch::Tensor targets = torch::tensor({{0.7f, 0.3f, 0.0f}, {0.0f, 0.4f, 0.6f}});
  const torch::Tensor weights = torch::tensor({1.0f, 2.0f, 0.5f});
  const torch::Tensor log_p = logits.log_softmax(1);
  // PyTorch's mean for probability targets divides by the images, not by the weights.
  const torch::Tensor expected = -(log_p * targets * weights).sum() / 2;
  CHECK(ftl::soft_target_loss(logits, targets, weights).item<double>() ==
        Approx(expected.item<double>()).epsilon(1e-6));
  const torch::Tensor unweighted = -(log_p * targets).sum() / 2;
  CHECK(ftl::soft_target_loss(logits, targets, {}).item<double>() ==
        Approx(unweighted.item<double>()).epsilon(1e-6));
}
