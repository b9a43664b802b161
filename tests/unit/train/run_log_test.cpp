// The log's descriptions of a run's settings, as a user reads them at start-up.
#include "ftl/train/run_log.h"

#include <catch2/catch.hpp>

TEST_CASE("run log: the optimizer and the effective batch of accumulated steps", "[run_log]") {
  ftl::OptimizerConfig optimizer;
  CHECK(ftl::describe_optimizer(optimizer, 1, 32, 1) == "SGD");
  CHECK(ftl::describe_optimizer(optimizer, 4, 32, 1) ==
        "SGD, 4 batches of 32 per step (an effective batch of 128)");
  optimizer.type = ftl::OptimizerType::kAdamW;
  optimizer.betas = {0.9, 0.99};
  CHECK(ftl::describe_optimizer(optimizer, 2, 8, 2) ==
        "AdamW (betas 0.9, 0.99, eps 1e-08), 2 batches of 8 per step on each of 2 ranks (an "
        "effective batch of 32)");
}

TEST_CASE("run log: the training transform names the auto-augmentation policy", "[run_log]") {
  ftl::Preprocess preprocess;
  ftl::Augment augment;
  augment.enabled = true;
  augment.hflip = false;
  augment.auto_augment = ftl::AutoAugmentPolicy::kTrivialWide;
  CHECK_THAT(ftl::describe_transforms(preprocess, augment),
             Catch::Matchers::Contains("ratio 0.75-1.33), TrivialAugmentWide;"));
  augment.auto_augment = ftl::AutoAugmentPolicy::kRand;
  augment.color_jitter = 0.4;
  CHECK_THAT(ftl::describe_transforms(preprocess, augment),
             Catch::Matchers::Contains(
                 "ratio 0.75-1.33), RandAugment (2 ops, magnitude 9 of 30, std 0.5), colour "
                 "jitter 0.4;"));
}
