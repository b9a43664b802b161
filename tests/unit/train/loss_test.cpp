// Class weights and label smoothing against the cross-entropy computed by hand.
#include "ftl/train/loss.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "ftl/util/errors.h"

namespace {

const std::vector<std::string> kClasses = {"cat", "dog", "fox"};

}  // namespace

TEST_CASE("loss: class weights from the setting", "[loss]") {
  CHECK_FALSE(ftl::class_weights("none", kClasses, {10, 20, 70}).defined());
  // balanced: n / (classes x count)
  const torch::Tensor balanced = ftl::class_weights("balanced", kClasses, {10, 20, 70});
  CHECK(balanced[0].item<double>() == Approx(100.0 / 30));
  CHECK(balanced[1].item<double>() == Approx(100.0 / 60));
  CHECK(balanced[2].item<double>() == Approx(100.0 / 210));
  const torch::Tensor named = ftl::class_weights({{"dog", 3.0}}, kClasses, {1, 1, 1});
  CHECK(named[0].item<double>() == 1.0);
  CHECK(named[1].item<double>() == 3.0);
  REQUIRE_THROWS_AS(ftl::class_weights({{"cow", 2.0}}, kClasses, {1, 1, 1}), ftl::ConfigError);
  REQUIRE_THROWS_WITH(ftl::class_weights({{"cow", 2.0}}, kClasses, {1, 1, 1}),
                      "train.class_weights names class \"cow\", which the training data does not "
                      "have (classes: cat, dog, fox)");
}

TEST_CASE("loss: weighted, smoothed cross-entropy equals the hand computation", "[loss]") {
  const torch::Tensor logits = torch::tensor({{2.0F, 0.5F, -1.0F}, {0.1F, 0.2F, 3.0F}});
  const torch::Tensor labels = torch::tensor({0L, 1L});
  // log-softmax by hand
  auto log_softmax = [](std::vector<double> row) {
    double sum = 0;
    for (const double v : row) sum += std::exp(v);
    for (double& v : row) v -= std::log(sum);
    return row;
  };
  const auto a = log_softmax({2.0, 0.5, -1.0});
  const auto b = log_softmax({0.1, 0.2, 3.0});

  const torch::Tensor plain = ftl::training_loss(logits, labels, {}, 0.0);
  CHECK(plain.item<double>() == Approx((-a[0] - b[1]) / 2).epsilon(1e-6));

  // PyTorch's weighted mean: sum(w_y * loss) / sum(w_y).
  const torch::Tensor weights = torch::tensor({1.0F, 3.0F, 1.0F});
  const torch::Tensor weighted = ftl::training_loss(logits, labels, weights, 0.0);
  CHECK(weighted.item<double>() == Approx((1 * -a[0] + 3 * -b[1]) / 4).epsilon(1e-6));
  CHECK(weighted.item<double>() != Approx(plain.item<double>()));

  // Label smoothing eps: (1 - eps) * nll + eps * mean over classes of -log p.
  const double eps = 0.1;
  auto smoothed_row = [eps](const std::vector<double>& row, std::size_t label) {
    return (1 - eps) * -row[label] + eps * -(row[0] + row[1] + row[2]) / 3;
  };
  const torch::Tensor smoothed = ftl::training_loss(logits, labels, {}, eps);
  CHECK(smoothed.item<double>() ==
        Approx((smoothed_row(a, 0) + smoothed_row(b, 1)) / 2).epsilon(1e-6));
}
