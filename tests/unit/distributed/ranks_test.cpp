#include "ftl/distributed/ranks.h"

#include <spdlog/logger.h>

#include <catch2/catch.hpp>

#include "ftl/util/errors.h"
#include "support/common.h"

namespace {}  // namespace

TEST_CASE("ranks: a single process's collectives are identities", "[ranks]") {
  ftl::SingleProcess ranks;
  CHECK(ranks.rank() == 0);
  CHECK(ranks.world_size() == 1);
  CHECK(ranks.root());
  const torch::Tensor values = torch::tensor({1.5, -2.0});
  ranks.broadcast({values}, "values");
  ranks.all_reduce({values}, "values");
  CHECK(values.equal(torch::tensor({1.5, -2.0})));
  CHECK(ranks.all_gather_text("a\tb\n", "texts") == std::vector<std::string>{"a\tb\n"});
  CHECK(ranks.agree_on_stop(15) == 15);
  CHECK(ranks.agree_on_stop(0) == 0);
  CHECK(ranks.on_every_rank(true, "x"));
  CHECK_FALSE(ranks.on_every_rank(false, "x"));
  CHECK_NOTHROW(ranks.check_same_on_every_rank("config", "a config"));
}

TEST_CASE("ranks: a single process's step keeps its own totals and gradients bit for bit",
          "[ranks]") {
  ftl::SingleProcess ranks;
  torch::Tensor weight = torch::ones({2}, torch::requires_grad());
  (weight * torch::tensor({0.3f, 0.7f})).sum().backward();
  const torch::Tensor grad_before = weight.grad().clone();
  ftl::StepTotals local;
  local.weight = 3;  // an uneven class weight: scaling by it and back would round
  local.loss = 0.1;
  local.correct = 2;
  local.count = 3;
  local.signal = 2;
  const ftl::StepTotals total = ranks.all_reduce_step({weight}, local);
  CHECK(total.loss == 0.1);
  CHECK(total.weight == 3);
  CHECK(total.correct == 2);
  CHECK(total.count == 3);
  CHECK(total.signal == 2);
  CHECK(weight.grad().equal(grad_before));
  CHECK(ranks.take_step_timing().steps == 0);
}

TEST_CASE("ranks: a launch that is not distributed joins no group", "[ranks]") {
  const ftl::Config config;
  const auto ranks =
      ftl::join_ranks(ftl::Launch{}, config, torch::kCPU, "identity", ftl::testing::quiet_logger());
  CHECK(ranks->world_size() == 1);
  CHECK(ranks->rank() == 0);
}

TEST_CASE("ranks: rank_share deals the images out round-robin", "[ranks]") {
  ftl::ImageFolder data;
  data.classes = {"a"};
  for (int i = 0; i < 5; ++i) data.samples.push_back({"img" + std::to_string(i) + ".png", 0});
  const ftl::ImageFolder second = ftl::rank_share(data, 1, 2);
  REQUIRE(second.samples.size() == 2);
  CHECK(second.samples[0].path == "img1.png");
  CHECK(second.samples[1].path == "img3.png");
  CHECK(second.classes == data.classes);
  CHECK(ftl::rank_share(data, 0, 1).samples.size() == 5);
}

TEST_CASE("ranks: the device of a single process is the one asked for", "[ranks]") {
  CHECK(ftl::rank_device(torch::kCPU, "cpu", ftl::Launch{}) == torch::Device(torch::kCPU));
}
