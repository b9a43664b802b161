// The range test's pure parts: the lr sequence, fastai's smoothing and stop rule, and the steep
// and valley suggestions on hand-made curves whose answers are worked out by fastai's rules.
#include "ftl/train/lr_find.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

namespace {

constexpr double kLrFindNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kLrFindInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("lr_find: the lrs grow geometrically from exactly start to exactly end", "[lr_find]") {
  const std::vector<double> lrs = ftl::range_test_lrs(1e-7, 10, 100);
  REQUIRE(lrs.size() == 100);
  CHECK(lrs.front() == 1e-7);
  CHECK(lrs.back() == 10);
  const double ratio = std::pow(1e8, 1.0 / 99);  // (end / start)^(1 / (steps - 1))
  for (std::size_t i = 1; i < lrs.size(); ++i) {
    CHECK(lrs[i] / lrs[i - 1] == Approx(ratio).epsilon(1e-12));
  }
  CHECK(lrs[33] == Approx(1e-7 * std::pow(1e8, 33.0 / 99)).epsilon(1e-12));

  const std::vector<double> three = ftl::range_test_lrs(0.01, 1, 3);
  REQUIRE(three.size() == 3);
  CHECK(three[0] == 0.01);
  CHECK(three[1] == Approx(0.1).epsilon(1e-12));
  CHECK(three[2] == 1);

  CHECK_THROWS_AS(ftl::range_test_lrs(1, 1, 10), std::invalid_argument);
  CHECK_THROWS_AS(ftl::range_test_lrs(0, 1, 10), std::invalid_argument);
  CHECK_THROWS_AS(ftl::range_test_lrs(0.1, 1, 1), std::invalid_argument);
}

TEST_CASE("lr_find: the smoothing is fastai's bias-corrected moving average", "[lr_find]") {
  // By hand with beta 0.98: 0.02 / 0.02 = 1; (0.98 x 0.02 + 0.02 x 2) / (1 - 0.98^2) =
  // 0.0596 / 0.0396; (0.98 x 0.0596 + 0.02 x 3) / (1 - 0.98^3) = 0.118408 / 0.058808.
  const std::vector<double> smoothed = ftl::smooth_losses({1, 2, 3});
  REQUIRE(smoothed.size() == 3);
  CHECK(smoothed[0] == Approx(1.0));
  CHECK(smoothed[1] == Approx(0.0596 / 0.0396));
  CHECK(smoothed[2] == Approx(0.118408 / 0.058808));

  // The formula for any beta and curve: sum_k beta^(n-k) (1 - beta) loss_k / (1 - beta^n).
  const std::vector<double> losses = {2.3, 1.7, 1.9, 0.4, 5.0, 0.9};
  for (const double beta : {0.98, 0.5, 0.0}) {
    const std::vector<double> curve = ftl::smooth_losses(losses, beta);
    for (std::size_t n = 1; n <= losses.size(); ++n) {
      double sum = 0;
      for (std::size_t k = 1; k <= n; ++k) {
        sum += std::pow(beta, static_cast<double>(n - k)) * (1 - beta) * losses[k - 1];
      }
      CHECK(curve[n - 1] == Approx(sum / (1 - std::pow(beta, static_cast<double>(n)))));
    }
  }
  // A flat loss stays flat: the bias correction removes the pull towards 0.
  for (const double value : ftl::smooth_losses({0.7, 0.7, 0.7, 0.7})) CHECK(value == Approx(0.7));
}

TEST_CASE("lr_find: the test stops once the smoothed loss passes 4x its lowest", "[lr_find]") {
  ftl::DivergenceRule rule;
  CHECK(rule.check(2.0, 2.0) == ftl::LrFindStop::kCompleted);
  CHECK(rule.check(0.5, 1.0) == ftl::LrFindStop::kCompleted);
  CHECK(rule.best() == 1.0);
  CHECK(rule.check(9.0, 4.0) == ftl::LrFindStop::kCompleted);  // exactly 4x: not above it
  CHECK(rule.check(9.0, 4.1) == ftl::LrFindStop::kDiverged);

  ftl::DivergenceRule finite;
  CHECK(finite.check(kLrFindNan, 1.0) == ftl::LrFindStop::kNonFinite);
  CHECK(finite.check(1.0, kLrFindInf) == ftl::LrFindStop::kNonFinite);

  // One exploding step on a flat curve: after four losses of 1 the smoothed loss is 1, then
  // (0.98 (1 - 0.98^4) + 0.02 x 100) / (1 - 0.98^5) = 21.6, above 4 x 1.
  ftl::DivergenceRule spike;
  const std::vector<double> raw = {1, 1, 1, 1, 100};
  const std::vector<double> smoothed = ftl::smooth_losses(raw);
  for (std::size_t i = 0; i + 1 < raw.size(); ++i) {
    CHECK(spike.check(raw[i], smoothed[i]) == ftl::LrFindStop::kCompleted);
  }
  CHECK(smoothed[4] == Approx((0.98 * (1 - std::pow(0.98, 4)) + 2) / (1 - std::pow(0.98, 5))));
  CHECK(spike.check(raw[4], smoothed[4]) == ftl::LrFindStop::kDiverged);
}

TEST_CASE("lr_find: steep is the start of the steepest fall against log lr", "[lr_find]") {
  // Evenly spaced in log lr, the slopes rank as the falls do: -0.1, -0.7, -0.2, +2.
  const std::vector<double> lrs = {1e-3, 1e-2, 1e-1, 1, 10};
  CHECK(ftl::steep_index(lrs, {2.0, 1.9, 1.2, 1.0, 3.0}) == 1);
  // Unevenly spaced: the fall of 1.5 over two decades (-1.5 / ln 100 = -0.33) is less steep
  // than the fall of 1 over one (-1 / ln 10 = -0.43).
  CHECK(ftl::steep_index({1, 10, 1000}, {3.0, 2.0, 0.5}) == 0);
  // Nothing falls: the smallest rise.
  CHECK(ftl::steep_index(lrs, {1.0, 1.5, 1.6, 3.0, 5.0}) == 1);
  CHECK_THROWS_AS(ftl::steep_index({1}, {1}), std::invalid_argument);
}

TEST_CASE("lr_find: valley is 1/3 + 1/6 along the longest valley", "[lr_find]") {
  // A valley of 10 points ending at index 10 (loss 1.0), so taken from 10 - 10 = 0: the
  // suggestion is 0 + floor(10/3) + floor(10/6) = 0 + 3 + 1 = index 4.
  CHECK(ftl::valley_index({3.0, 3.1, 3.0, 2.8, 2.5, 2.0, 1.5, 1.2, 1.1, 1.05, 1.0, 2.0, 5.0}) == 4);
  // Falling from the first point: 5 points ending at 4, start 4 - 5 = -1, -1 + 1 + 0 = 0.
  CHECK(ftl::valley_index({5, 4, 3, 2, 1, 2, 3}) == 0);
  // The valley is the longest falling subsequence, not a run: 4, 3.9, 3.0, 2.0, 1.0 (5 points
  // ending at 6), start 6 - 5 = 1, 1 + 1 + 0 = index 2 (4.5, off the subsequence: fastai's rule).
  CHECK(ftl::valley_index({4, 3.9, 4.5, 3.0, 2.0, 2.5, 1.0, 6.0}) == 2);
  // Nothing falls: the first point.
  CHECK(ftl::valley_index({1, 2, 3}) == 0);
  CHECK(ftl::valley_index({1, 1, 1}) == 0);
  // fastai gives -1 for a valley of the first two points (Python's last point); here 0.
  CHECK(ftl::valley_index({2, 1, 3, 4}) == 0);
  CHECK_THROWS_AS(ftl::valley_index({}), std::invalid_argument);
}

TEST_CASE("lr_find: suggestions skip the first steps/10 and last 5 points, and stop at a NaN",
          "[lr_find]") {
  const std::vector<double> twenty(20, 1.0);
  ftl::PointRange range = ftl::suggestion_range(twenty, 20);
  CHECK(range.begin == 2);
  CHECK(range.end == 15);
  // steps as asked for: a test that stopped at 12 of 40 steps skips 40/10 = 4 at the start.
  range = ftl::suggestion_range(std::vector<double>(12, 1.0), 40);
  CHECK(range.begin == 4);
  CHECK(range.end == 7);
  std::vector<double> with_nan = twenty;
  with_nan[9] = kLrFindNan;
  range = ftl::suggestion_range(with_nan, 20);
  CHECK(range.begin == 2);
  CHECK(range.end == 9);
  range = ftl::suggestion_range(std::vector<double>(6, 1.0), 100);
  CHECK(range.begin == range.end);

  // On a curve of 12 steps: points 1 .. 6 are considered.
  const std::vector<double> lrs = ftl::range_test_lrs(1e-4, 1, 12);
  const std::vector<double> smoothed = {9, 9, 3.0, 2.9, 2.0, 1.9, 1.85, 9, 9, 9, 9, 9};
  const ftl::LrSuggestions suggestions = ftl::suggest_lrs(lrs, smoothed, 12);
  REQUIRE(suggestions.steep);
  REQUIRE(suggestions.valley);
  // Window [9, 3.0, 2.9, 2.0, 1.9, 1.85]: the steepest fall is 9 -> 3.0, from window index 0.
  CHECK(suggestions.steep->index == 1);
  CHECK(suggestions.steep->lr == lrs[1]);
  CHECK(suggestions.steep->loss == 9);
  // Its valley: all 6 points, ending at 5, start 5 - 6 = -1, -1 + 2 + 1 = window index 2.
  CHECK(suggestions.valley->index == 3);
  CHECK(suggestions.valley->lr == lrs[3]);
  CHECK(suggestions.valley->loss == 2.9);

  // Too few points left: no suggestion.
  const ftl::LrSuggestions none = ftl::suggest_lrs(lrs, std::vector<double>(7, 1.0), 12);
  CHECK_FALSE(none.steep);
  CHECK_FALSE(none.valley);
}

TEST_CASE("lr_find: the curve as CSV", "[lr_find]") {
  ftl::LrFindResult result;
  result.curve = {{1, 1e-07, 1.5, 1.5}, {2, 0.25, kLrFindNan, kLrFindNan}};
  CHECK(ftl::lr_find_csv(result) ==
        "step,lr,loss,smoothed_loss\n1,1e-07,1.5,1.5\n2,0.25,nan,nan\n");
  CHECK(ftl::to_string(ftl::LrFindStop::kCompleted) == "completed");
  CHECK(ftl::to_string(ftl::LrFindStop::kDiverged) == "diverged");
  CHECK(ftl::to_string(ftl::LrFindStop::kNonFinite) == "non_finite");
}
