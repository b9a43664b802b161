// Every schedule's lr, step by step, against its formula written out independently here.
#include "ftl/train/schedule.h"

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <optional>
#include <vector>

namespace {

constexpr double kBase = 0.1;
constexpr std::int64_t kSteps = 4;  // steps per epoch
constexpr std::int64_t kEpochs = 6;

double lr(const ftl::ScheduleConfig& schedule, std::int64_t epoch, std::int64_t step) {
  return ftl::scheduled_lr(schedule, kBase, kEpochs, {epoch, step, kSteps});
}

}  // namespace

TEST_CASE("schedule: constant keeps the base lr", "[schedule]") {
  const ftl::ScheduleConfig constant;
  for (std::int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    for (std::int64_t step = 0; step < kSteps; ++step) CHECK(lr(constant, epoch, step) == kBase);
  }
}

TEST_CASE("schedule: step decays by gamma every step_size epochs", "[schedule]") {
  ftl::ScheduleConfig step;
  step.type = ftl::ScheduleType::kStep;
  step.step_size = 2;
  step.gamma = 0.5;
  const double expected[] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025};
  for (std::int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    INFO("epoch " << epoch);
    CHECK(lr(step, epoch, 0) == Approx(expected[epoch]).epsilon(1e-12));
    CHECK(lr(step, epoch, kSteps - 1) == Approx(expected[epoch]).epsilon(1e-12));
  }
}

TEST_CASE("schedule: multistep decays after each milestone", "[schedule]") {
  ftl::ScheduleConfig multistep;
  multistep.type = ftl::ScheduleType::kMultistep;
  multistep.milestones = {1, 4};
  multistep.gamma = 0.1;
  const double expected[] = {0.1, 0.01, 0.01, 0.01, 0.001, 0.001};
  for (std::int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    INFO("epoch " << epoch);
    CHECK(lr(multistep, epoch, 2) == Approx(expected[epoch]).epsilon(1e-12));
  }
}

TEST_CASE("schedule: cosine anneals to min_lr, updated every step", "[schedule]") {
  ftl::ScheduleConfig cosine;
  cosine.type = ftl::ScheduleType::kCosine;
  cosine.min_lr = 0.001;
  const double pi = std::acos(-1.0);
  for (std::int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    for (std::int64_t step = 0; step < kSteps; ++step) {
      const double t = (static_cast<double>(epoch) + static_cast<double>(step) / kSteps) / kEpochs;
      const double expected = 0.001 + (kBase - 0.001) * 0.5 * (1 + std::cos(pi * t));
      INFO("epoch " << epoch << " step " << step);
      CHECK(lr(cosine, epoch, step) == Approx(expected).epsilon(1e-12));
    }
  }
  CHECK(lr(cosine, 0, 0) == kBase);
  CHECK(lr(cosine, 0, 1) < lr(cosine, 0, 0));  // not constant within an epoch
}

TEST_CASE("schedule: warmup rises linearly per step, then the schedule takes over", "[schedule]") {
  ftl::ScheduleConfig warm;
  warm.type = ftl::ScheduleType::kCosine;
  warm.warmup_epochs = 1.5;  // 6 steps
  const double pi = std::acos(-1.0);
  for (std::int64_t i = 0; i < 6; ++i) {
    INFO("step " << i);
    CHECK(lr(warm, i / kSteps, i % kSteps) == Approx(kBase * static_cast<double>(i + 1) / 6.0));
  }
  // After warmup, cosine runs over the remaining 4.5 epochs.
  for (std::int64_t i = 6; i < kEpochs * kSteps; ++i) {
    const double t = (static_cast<double>(i) / kSteps - 1.5) / 4.5;
    INFO("step " << i);
    CHECK(lr(warm, i / kSteps, i % kSteps) ==
          Approx(kBase * 0.5 * (1 + std::cos(pi * t))).epsilon(1e-12));
  }

  ftl::ScheduleConfig step_warm;
  step_warm.type = ftl::ScheduleType::kStep;
  step_warm.step_size = 3;
  step_warm.warmup_epochs = 0.5;  // 2 steps
  CHECK(lr(step_warm, 0, 0) == Approx(kBase / 2));
  CHECK(lr(step_warm, 0, 1) == Approx(kBase));
  CHECK(lr(step_warm, 3, 0) == Approx(kBase * 0.1));
}

TEST_CASE("schedule: onecycle rises and falls along half cosines, momentum the other way",
          "[schedule]") {
  ftl::ScheduleConfig one_cycle;
  one_cycle.type = ftl::ScheduleType::kOneCycle;
  // fastai's fit_one_cycle over the 24 steps of the run (pct_start 0.25: the peak at step 6),
  // its SchedCos phases evaluated in Python: {step of the run, lr, momentum}.
  const std::vector<std::array<double, 3>> expected = {
      {0, 0.004, 0.95},
      {1, 0.010430780618346942, 0.9433012701892219},
      {3, 0.052000000000000005, 0.9},
      {6, 0.1, 0.85},
      {7, 0.0992403952467339, 0.8507596123493896},
      {12, 0.07500025000000002, 0.875},
      {23, 0.0007606047532661003, 0.9492403876506104},
  };
  for (const auto& [run_step, expected_lr, expected_momentum] : expected) {
    const auto epoch = static_cast<std::int64_t>(run_step) / kSteps;
    const auto step = static_cast<std::int64_t>(run_step) % kSteps;
    INFO("step " << run_step);
    CHECK(lr(one_cycle, epoch, step) == Approx(expected_lr).epsilon(1e-12));
    const std::optional<double> momentum =
        ftl::scheduled_momentum(one_cycle, kEpochs, {epoch, step, kSteps});
    REQUIRE(momentum);
    CHECK(*momentum == Approx(expected_momentum).epsilon(1e-12));
  }
  // max_lr replaces the base lr as the peak.
  one_cycle.max_lr = 0.5;
  CHECK(lr(one_cycle, 1, 2) == Approx(0.5).epsilon(1e-12));
  CHECK(lr(one_cycle, 0, 0) == Approx(0.5 / 25).epsilon(1e-12));
  // Other schedules leave the momentum to the optimizer.
  CHECK_FALSE(ftl::scheduled_momentum(ftl::ScheduleConfig{}, kEpochs, {0, 0, kSteps}));
}
