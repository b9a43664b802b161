#include "ftl/eval/class_scores.h"

#include <catch2/catch.hpp>

#include "ftl/util/errors.h"
#include "support/tiny_net.h"

using ftl::testing::kTinyNetSide;

TEST_CASE("class scores: flip TTA is the mean of the two passes' softmax", "[class_scores]") {
  torch::jit::Module net = ftl::testing::tiny_net(3, 4);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const torch::Tensor images = torch::randn({2, 3, kTinyNetSide, kTinyNetSide});
  const torch::Tensor plain = ftl::class_probabilities(net, images, ftl::Tta::kNone);
  const torch::Tensor mirror = ftl::class_probabilities(net, images.flip({3}), ftl::Tta::kNone);
  const torch::Tensor tta = ftl::class_probabilities(net, images, ftl::Tta::kFlip);
  CHECK(torch::equal(plain, net.forward({images}).toTensor().softmax(1)));
  CHECK(torch::allclose(tta, (plain + mirror) / 2, /*rtol=*/0, /*atol=*/1e-7));
  CHECK_FALSE(torch::allclose(tta, plain));  // the mirror changes this network's answer
  CHECK(torch::allclose(tta.sum(1), torch::ones({2})));
}

TEST_CASE("class scores: the scores' softmax is the TTA probabilities, and without TTA the logits",
          "[class_scores]") {
  torch::jit::Module net = ftl::testing::tiny_net(3, 5);
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  const torch::Tensor images = torch::randn({4, 3, kTinyNetSide, kTinyNetSide});
  CHECK(torch::equal(ftl::class_scores(net, images, ftl::Tta::kNone),
                     net.forward({images}).toTensor()));
  const torch::Tensor scores = ftl::class_scores(net, images, ftl::Tta::kFlip);
  CHECK(torch::allclose(scores.softmax(1), ftl::class_probabilities(net, images, ftl::Tta::kFlip),
                        0, 1e-6));
  // Log-probabilities: already normalised, and finite where a probability would underflow.
  CHECK(torch::allclose(scores.exp().sum(1), torch::ones({4}), 0, 1e-6));
  torch::jit::Module sharp = ftl::testing::tiny_net(3, 5);
  for (const auto& parameter : sharp.named_parameters()) {
    if (parameter.name == "fc.weight") parameter.value.mul_(1e4);
  }
  CHECK(torch::isfinite(ftl::class_scores(sharp, images, ftl::Tta::kFlip)).all().item<bool>());
}

TEST_CASE("class scores: top classes per row, most probable first", "[class_scores]") {
  const torch::Tensor probabilities = torch::tensor({{0.1f, 0.7f, 0.2f}, {0.5f, 0.2f, 0.3f}});
  const auto top = ftl::top_classes(probabilities, 2, {"cat", "dog", "emu"});
  REQUIRE(top.size() == 2);
  CHECK(top[0][0].name == "dog");
  CHECK(top[0][0].index == 1);
  CHECK(top[0][0].probability == Approx(0.7));
  CHECK(top[0][1].name == "emu");
  CHECK(top[1][0].name == "cat");
  CHECK(top[1][1].name == "emu");
}

TEST_CASE("class scores: TTA names", "[class_scores]") {
  CHECK(ftl::parse_tta("flip", "tta") == ftl::Tta::kFlip);
  CHECK(ftl::parse_tta("none", "tta") == ftl::Tta::kNone);
  CHECK(std::string(ftl::tta_name(ftl::Tta::kFlip)) == "flip");
  CHECK_THROWS_WITH(ftl::parse_tta("five_crop", "tta"),
                    "tta must be none or flip, got 'five_crop'");
}
