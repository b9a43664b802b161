#include "ftl/train/train_step.h"

#include <catch2/catch.hpp>
#include <limits>

#include "ftl/config/config.h"
#include "ftl/model/head.h"
#include "ftl/train/mixup.h"
#include "support/tiny_net.h"

namespace {

constexpr std::int64_t kClassCount = 3;
constexpr std::int64_t kBatch = 4;

// The tiny network, all of it trainable, with its optimizer.
struct TrainableNet {
  torch::jit::Module net = ftl::testing::tiny_net(kClassCount, 1);
  std::unique_ptr<ftl::TrainingOptimizer> optimizer;
  ftl::Forward forward = [this](const torch::Tensor& input) {
    return net.forward({input}).toTensor();
  };

  TrainableNet() {
    net.train();
    std::vector<torch::jit::NameTensor> trainable;
    for (const auto& parameter : net.named_parameters(/*recurse=*/true)) {
      parameter.value.requires_grad_(true);
      trainable.push_back(parameter);
    }
    ftl::Config config;
    config.optimizer.lr = 0.1;
    optimizer = std::make_unique<ftl::TrainingOptimizer>(
        trainable, ftl::find_head(net, "auto", "tiny_net"), config);
  }
  torch::Tensor fc_weight() { return net.attr("fc").toModule().attr("weight").toTensor(); }
};

ftl::Batch batch_of(torch::Tensor images) {
  ftl::Batch batch;
  batch.labels = torch::tensor({0, 1, 2, 0}, torch::kInt64);
  batch.images = std::move(images);
  return batch;
}

// The L2 norm of all gradients together, as clip_grad_norm_ computes it.
double total_gradient_norm(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> norms;
  for (const torch::Tensor& parameter : parameters) norms.push_back(parameter.grad().norm());
  return torch::stack(norms).norm().item<double>();
}

ftl::Batch random_batch() {
  torch::manual_seed(3);
  return batch_of(
      torch::randn({kBatch, 3, ftl::testing::kTinyNetSide, ftl::testing::kTinyNetSide}));
}

}  // namespace

TEST_CASE("train step: one SGD step on the batch, with its totals", "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  const torch::Tensor before = fixture.fc_weight().clone();
  ftl::StepSettings settings;
  settings.lr = 0.1;
  settings.stop_signal = 15;
  const ftl::Batch batch = random_batch();
  const torch::Tensor expected_loss =
      torch::nn::functional::cross_entropy(fixture.forward(batch.images), batch.labels);
  const ftl::StepResult result =
      ftl::train_step(fixture.forward, *fixture.optimizer, batch, true, settings, ranks);
  CHECK_FALSE(result.diverged);
  CHECK(result.totals.count == kBatch);
  CHECK(result.totals.weight == kBatch);
  CHECK(result.totals.signal == 15);
  CHECK(result.totals.loss == Approx(expected_loss.item<double>()).epsilon(1e-3));
  CHECK_FALSE(fixture.fc_weight().equal(before));
}

TEST_CASE("train step: a rank without images steps nothing", "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  const torch::Tensor before = fixture.fc_weight().clone();
  const ftl::StepResult result =
      ftl::train_step(fixture.forward, *fixture.optimizer, ftl::Batch{}, false, {}, ranks);
  CHECK(result.totals.count == 0);
  CHECK_FALSE(result.diverged);
  CHECK(fixture.fc_weight().equal(before));
}

TEST_CASE("train step: a loss that is not finite is reported and the weights stay",
          "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  const torch::Tensor before = fixture.fc_weight().clone();
  torch::Tensor images = random_batch().images;
  images[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  const ftl::StepResult result =
      ftl::train_step(fixture.forward, *fixture.optimizer, batch_of(images), true, {}, ranks);
  REQUIRE(result.diverged);
  CHECK(result.diverged->what == "training loss");
  CHECK(std::isnan(result.diverged->value));
  CHECK(fixture.fc_weight().equal(before));
}

TEST_CASE("train step: the gradients' sum is not finite where one gradient is not",
          "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  ftl::StepSettings settings;
  settings.lr = 0;
  ftl::train_step(fixture.forward, *fixture.optimizer, random_batch(), true, settings, ranks);
  const std::vector<torch::Tensor>& parameters = fixture.optimizer->parameters();
  CHECK(std::isfinite(ftl::gradient_sum(parameters)));
  torch::Tensor grad = parameters.back().grad();
  grad.view({-1})[0] = std::numeric_limits<float>::infinity();
  CHECK(std::isinf(ftl::gradient_sum(parameters)));
  grad.view({-1})[1] = -std::numeric_limits<float>::infinity();
  CHECK(std::isnan(ftl::gradient_sum(parameters)));
  grad.view({-1})[0] = std::numeric_limits<float>::quiet_NaN();
  grad.view({-1})[1] = 0;
  CHECK(std::isnan(ftl::gradient_sum(parameters)));
}

TEST_CASE("train step: each step starts without the last step's gradients", "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  ftl::StepSettings settings;
  settings.lr = 0;  // the same weights twice: the same gradients, not twice them
  ftl::train_step(fixture.forward, *fixture.optimizer, random_batch(), true, settings, ranks);
  const torch::Tensor first = fixture.optimizer->parameters().back().grad().clone();
  ftl::train_step(fixture.forward, *fixture.optimizer, random_batch(), true, settings, ranks);
  CHECK(fixture.optimizer->parameters().back().grad().equal(first));
}

TEST_CASE("train step: gradient clipping bounds the step's gradient norm", "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  ftl::StepSettings settings;
  settings.lr = 0;  // keep the weights, look at the clipped gradients
  settings.grad_clip_norm = 1e-3;
  const ftl::StepResult result =
      ftl::train_step(fixture.forward, *fixture.optimizer, random_batch(), true, settings, ranks);
  CHECK_FALSE(result.diverged);
  CHECK(total_gradient_norm(fixture.optimizer->parameters()) == Approx(1e-3).epsilon(1e-3));
}

TEST_CASE("train step: class weights make the step's weight the labels' weights summed",
          "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  ftl::StepSettings settings;
  settings.lr = 0.1;
  settings.class_weights = torch::tensor({2.0f, 1.0f, 0.5f});
  const ftl::StepResult result =
      ftl::train_step(fixture.forward, *fixture.optimizer, random_batch(), true, settings, ranks);
  CHECK(result.totals.weight == Approx(2.0 + 1.0 + 0.5 + 2.0));
}

TEST_CASE("train step: with mixup the loss is on the batch's mixed images and targets",
          "[train_step]") {
  TrainableNet fixture;
  ftl::SingleProcess ranks;
  ftl::StepSettings settings;
  settings.lr = 0.1;
  settings.mixup.mixup_alpha = 0.8;
  settings.mixup.cutmix_alpha = 1.0;
  settings.label_smoothing = 0.1;
  settings.class_weights = torch::tensor({1.0f, 2.0f, 0.5f});
  const ftl::Batch batch = random_batch();
  // A step whose draw mixes the batch: the loss must be the mixed batch's, not the plain one's.
  std::uint64_t seed = 0;
  ftl::MixDraw draw;
  for (; draw.lam == 1.0; ++seed) {
    draw =
        ftl::draw_mix(settings.mixup, ftl::testing::kTinyNetSide, ftl::testing::kTinyNetSide, seed);
  }
  settings.mix_seed = seed - 1;
  const ftl::MixedTargets mixed =
      ftl::mix_targets(batch.labels, kClassCount, settings.label_smoothing, draw);
  const torch::Tensor logits = fixture.forward(ftl::mix_images(batch.images, draw));
  const double expected =
      ftl::soft_target_loss(logits, mixed.targets, settings.class_weights).item<double>();
  const std::int64_t correct = logits.argmax(1).eq(mixed.dominant).sum().item<std::int64_t>();
  const ftl::StepResult result =
      ftl::train_step(fixture.forward, *fixture.optimizer, batch, true, settings, ranks);
  CHECK(result.totals.loss == Approx(expected).epsilon(1e-6));
  CHECK(result.totals.correct == correct);
  CHECK(result.totals.weight == kBatch);  // probability targets: the mean is over the images
}

TEST_CASE("train step: accumulated batches step as one batch of them all", "[train_step]") {
  // Two batches of 4 accumulated against one batch of 8 made of them, with class weights (so
  // that the two batches weigh differently) and BatchNorm in eval mode (training BatchNorm
  // normalises each batch by its own statistics, which no accumulation can repeat).
  const ftl::Batch first = random_batch();
  torch::manual_seed(4);
  ftl::Batch second =
      batch_of(torch::randn({kBatch, 3, ftl::testing::kTinyNetSide, ftl::testing::kTinyNetSide}));
  second.labels = torch::tensor({1, 1, 2, 2}, torch::kInt64);
  ftl::Batch whole;
  whole.images = torch::cat({first.images, second.images});
  whole.labels = torch::cat({first.labels, second.labels});
  ftl::StepSettings settings;
  settings.lr = 0.1;
  settings.class_weights = torch::tensor({2.0f, 1.0f, 0.5f});
  ftl::SingleProcess ranks;

  TrainableNet accumulated;
  TrainableNet reference;
  for (TrainableNet* fixture : {&accumulated, &reference}) {
    fixture->net.attr("bn1").toModule().eval();
  }
  ftl::Accumulation accumulation;
  ftl::accumulate_batch(accumulated.forward, *accumulated.optimizer, first, settings, accumulation);
  ftl::accumulate_batch(accumulated.forward, *accumulated.optimizer, second, settings,
                        accumulation);
  CHECK(accumulation.batches == 2);
  CHECK(accumulation.scale == Approx(2.0 + 1.0 + 0.5 + 2.0));  // the first batch's weight
  CHECK(accumulation.weight == Approx(5.5 + 1.0 + 1.0 + 0.5 + 0.5));
  const ftl::StepResult stepped =
      ftl::finish_step(*accumulated.optimizer, accumulation, settings, ranks);
  CHECK(accumulation.batches == 0);  // reset for the next step
  const ftl::StepResult expected =
      ftl::train_step(reference.forward, *reference.optimizer, whole, true, settings, ranks);

  CHECK(stepped.totals.count == 2 * kBatch);
  CHECK(stepped.totals.weight == Approx(expected.totals.weight));
  CHECK(stepped.totals.loss == Approx(expected.totals.loss).epsilon(1e-6));
  CHECK(stepped.totals.correct == expected.totals.correct);
  const auto ours = accumulated.net.named_parameters(/*recurse=*/true);
  const auto theirs = reference.net.named_parameters(/*recurse=*/true);
  REQUIRE(ours.size() == theirs.size());
  auto their = theirs.begin();
  for (const auto& parameter : ours) {
    INFO(parameter.name);
    CHECK(parameter.value.allclose((*their).value, /*rtol=*/0, /*atol=*/1e-5));
    ++their;
  }
  // The step moved the weights: the comparison is not between two untouched networks.
  CHECK_FALSE(accumulated.fc_weight().equal(TrainableNet().fc_weight()));
}

TEST_CASE("train step: an accumulated step survives its JSON record", "[train_step]") {
  ftl::Accumulation accumulation;
  accumulation.batches = 2;
  accumulation.scale = 4;
  accumulation.weight = 7.5;
  accumulation.weighted_loss = 9.25;
  accumulation.first_loss = 1.5;
  accumulation.correct = 3;
  accumulation.count = 8;
  const ftl::Accumulation back = ftl::accumulation_from_json(ftl::to_json(accumulation), "last.pt");
  CHECK(ftl::to_json(back) == ftl::to_json(accumulation));
  nlohmann::json damaged = ftl::to_json(accumulation);
  damaged.erase("scale");
  CHECK_THROWS_WITH(
      ftl::accumulation_from_json(damaged, "last.pt"),
      Catch::Matchers::StartsWith("last.pt: the resume state's accumulated step is damaged: "));
}
