// Early stopping, epoch by epoch: patience, min_delta, and which way the metric must go.
#include "ftl/train/early_stopping.h"

#include <catch2/catch.hpp>

TEST_CASE("early stopping: stops after patience epochs without an improvement > min_delta",
          "[ranking]") {
  ftl::EarlyStoppingConfig config;
  config.metric = ftl::Metric::kValLoss;
  config.patience = 2;
  config.min_delta = 0.05;
  ftl::EarlyStopping stopping(config);
  CHECK_FALSE(stopping.update(1, 1.0));
  CHECK_FALSE(stopping.update(2, 0.8));   // improved by 0.2
  CHECK_FALSE(stopping.update(3, 0.78));  // by 0.02 only: 1 bad epoch
  ftl::EarlyStopping resumed(config);
  resumed.restore(stopping.to_json());
  CHECK(resumed.update(4, 0.77));  // 2 bad epochs: stop
  CHECK(resumed.reason() ==
        "early stopping: val_loss did not improve by more than 0.05 for 2 epochs (best 0.8 at "
        "epoch 2)");

  config.patience = 0;  // off: counts, never stops
  ftl::EarlyStopping off(config);
  for (std::int64_t epoch = 1; epoch < 10; ++epoch) CHECK_FALSE(off.update(epoch, 1.0));
}

TEST_CASE("early stopping: accuracy must rise", "[ranking]") {
  ftl::EarlyStoppingConfig config;
  config.metric = ftl::Metric::kValAcc;
  config.patience = 1;
  ftl::EarlyStopping stopping(config);
  CHECK_FALSE(stopping.update(1, 0.5));
  CHECK_FALSE(stopping.update(2, 0.6));
  CHECK(stopping.update(3, 0.6));
}
