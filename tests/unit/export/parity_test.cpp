// The parity check's arithmetic: bounds per format and precision, the comparison, and the
// batches it runs.
#include "ftl/export/parity.h"

#include <catch2/catch.hpp>

TEST_CASE("parity: the bound of each format and precision", "[export]") {
  const ftl::ParityBound torchscript =
      ftl::parity_bound(ftl::ExportFormat::kTorchScript, ftl::Precision::kFp32);
  CHECK(torchscript.max_difference == 1e-5);
  CHECK(torchscript.min_agreement == 0.0);
  CHECK(ftl::parity_bound(ftl::ExportFormat::kOnnx, ftl::Precision::kFp32).max_difference == 1e-4);
  const ftl::ParityBound bf16 =
      ftl::parity_bound(ftl::ExportFormat::kTorchScript, ftl::Precision::kBf16);
  CHECK(bf16.max_difference == 2e-2);
  CHECK(bf16.min_agreement == 0.99);
}

TEST_CASE("parity: the largest difference and the top-1 agreement", "[export]") {
  const torch::Tensor reference = torch::tensor({{0.7, 0.2, 0.1}, {0.1, 0.5, 0.4}});
  torch::Tensor exported = reference.clone();
  const ftl::ParityBound bound{1e-5, 0.99};
  ftl::ParityReport same = ftl::compare_probabilities(reference, exported, bound);
  CHECK(same.images == 2);
  CHECK(same.max_difference == 0.0);
  CHECK(same.agreement == 1.0);
  CHECK(same.passed());

  exported[1] = torch::tensor({0.1, 0.44, 0.46});  // the second image's top-1 flips
  const ftl::ParityReport flipped = ftl::compare_probabilities(reference, exported, bound);
  CHECK(flipped.max_difference == Approx(0.06));
  CHECK(flipped.agreement == 0.5);
  CHECK_FALSE(flipped.passed());
  // Within a loose bound on the values, the agreement alone still fails it.
  CHECK_FALSE(ftl::compare_probabilities(reference, exported, {0.1, 0.99}).passed());
  CHECK(ftl::compare_probabilities(reference, exported, {0.1, 0.0}).passed());
}

TEST_CASE("parity: generated batches are fixed, two sizes when the batch is dynamic", "[export]") {
  const std::vector<torch::Tensor> dynamic = ftl::generated_batches(8, 0);
  REQUIRE(dynamic.size() == 2);
  CHECK(dynamic[0].sizes() == torch::IntArrayRef({2, 3, 8, 8}));
  CHECK(dynamic[1].sizes() == torch::IntArrayRef({3, 3, 8, 8}));
  CHECK(torch::equal(ftl::generated_batches(8, 0)[1], dynamic[1]));  // the same every run
  const std::vector<torch::Tensor> fixed = ftl::generated_batches(8, 4);
  REQUIRE(fixed.size() == 2);
  CHECK(fixed[1].sizes() == torch::IntArrayRef({4, 3, 8, 8}));
}

TEST_CASE("parity: batches of the check images, a fixed batch filled from the first images",
          "[export]") {
  const torch::Tensor images = torch::arange(5, torch::kFloat32).reshape({5, 1, 1, 1});
  const std::vector<torch::Tensor> batches = ftl::split_batches(images, 2, /*pad=*/true);
  REQUIRE(batches.size() == 3);
  CHECK(torch::equal(batches[2].flatten(), torch::tensor({4.0F, 0.0F})));
  const std::vector<torch::Tensor> dynamic = ftl::split_batches(images, 2, /*pad=*/false);
  REQUIRE(dynamic.size() == 3);
  CHECK(torch::equal(dynamic[2].flatten(), torch::tensor({4.0F})));
  const std::vector<torch::Tensor> whole = ftl::split_batches(images, 0, /*pad=*/true);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].size(0) == 5);
}
