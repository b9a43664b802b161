// The resume state inside last.pt: encoded and decoded whole, damaged state named, and the
// rule that only train.epochs may change on resume.
#include "ftl/model/train_state.h"

#include <catch2/catch.hpp>

#include "ftl/util/errors.h"

using Catch::Matchers::Contains;

TEST_CASE("train state: round trip through the archive entries", "[train_state]") {
  ftl::TrainState state;
  state.epochs_done = 2;
  state.steps_done = 5;
  state.world_size = 3;
  state.partial = {12.5, 30, 40};
  state.ranking = {{"metric", "val_acc"}, {"kept", nlohmann::json::array()}};
  state.early_stopping = {{"bad_epochs", 1}};
  state.phase = "frozen";
  state.optimizer = {{"groups", nlohmann::json::array()}};
  state.tensors["momentum/fc.weight"] = torch::arange(6, torch::kFloat32).reshape({2, 3});
  ftl::save_rng_states(state.tensors);

  const auto entries = ftl::encode_train_state(state);
  const ftl::TrainState back = ftl::decode_train_state(entries, "last.pt");
  CHECK(back.epochs_done == 2);
  CHECK(back.steps_done == 5);
  CHECK(back.world_size == 3);
  CHECK(back.partial.loss_sum == 12.5);
  CHECK(back.partial.correct == 30);
  CHECK(back.partial.count == 40);
  CHECK(back.ranking == state.ranking);
  CHECK(back.early_stopping == state.early_stopping);
  CHECK(back.phase == "frozen");
  REQUIRE(back.tensors.size() == state.tensors.size());
  CHECK(torch::equal(back.tensors.at("momentum/fc.weight"), state.tensors["momentum/fc.weight"]));

  // The random generator comes back where it was.
  const double expected = torch::rand({1}).item<double>();
  ftl::restore_rng_states(back.tensors);
  CHECK(torch::rand({1}).item<double>() == expected);
}

TEST_CASE("train state: missing or damaged entries are named", "[train_state]") {
  REQUIRE_THROWS_WITH(ftl::decode_train_state({}, "best.pt"),
                      "best.pt: holds no resume state (ftl_train_state.json); only "
                      "checkpoints/last.pt of an ftl run can be resumed");
  auto entries = ftl::encode_train_state({});
  entries[ftl::kTrainStateName] = "{\"format_version\": 1}";
  REQUIRE_THROWS_AS(ftl::decode_train_state(entries, "last.pt"), ftl::ModelError);
  REQUIRE_THROWS_WITH(ftl::decode_train_state(entries, "last.pt"),
                      Contains("last.pt: ftl_train_state.json: ") && Contains("epochs_done"));
  // Held to the config's standard: no unknown keys, no negative counts.
  const nlohmann::json good =
      nlohmann::json::parse(ftl::encode_train_state({})[ftl::kTrainStateName]);
  nlohmann::json bad = good;
  bad["epochs_dne"] = 3;
  entries[ftl::kTrainStateName] = bad.dump();
  REQUIRE_THROWS_WITH(ftl::decode_train_state(entries, "last.pt"),
                      Contains("last.pt: ftl_train_state.json: 'epochs_dne' is not a known key"));
  bad = good;
  bad["steps_done"] = -4;
  entries[ftl::kTrainStateName] = bad.dump();
  REQUIRE_THROWS_WITH(ftl::decode_train_state(entries, "last.pt"),
                      "last.pt: ftl_train_state.json: steps_done must be >= 0, got -4");
  bad = good;
  bad["world_size"] = 0;
  entries[ftl::kTrainStateName] = bad.dump();
  REQUIRE_THROWS_WITH(ftl::decode_train_state(entries, "last.pt"),
                      "last.pt: ftl_train_state.json: world_size must be >= 1, got 0");
  // A state written before distributed training was one process's.
  bad = good;
  bad.erase("world_size");
  entries[ftl::kTrainStateName] = bad.dump();
  CHECK(ftl::decode_train_state(entries, "last.pt").world_size == 1);
  bad = good;
  bad["partial"]["correct"] = 7;
  entries[ftl::kTrainStateName] = bad.dump();
  REQUIRE_THROWS_WITH(ftl::decode_train_state(entries, "last.pt"),
                      "last.pt: ftl_train_state.json: partial.count must be >= 7, got 0");
  entries = ftl::encode_train_state({});
  entries[ftl::kTrainTensorsName] = "garbage";
  REQUIRE_THROWS_WITH(ftl::decode_train_state(entries, "last.pt"),
                      Contains("last.pt: ftl_train_state.pt is damaged"));
}

TEST_CASE("train state: a resume may only raise train.epochs or change the feature cache",
          "[train_state]") {
  const nlohmann::json run = {{"train", {{"epochs", 5}, {"seed", 1}}},
                              {"optimizer", {{"lr", 0.1}}}};
  nlohmann::json more = run;
  more["train"]["epochs"] = 8;
  CHECK_NOTHROW(ftl::check_resume_config(run, more, 5, "runs/a"));
  nlohmann::json fewer = run;
  fewer["train"]["epochs"] = 2;
  REQUIRE_THROWS_WITH(ftl::check_resume_config(run, fewer, 3, "runs/a"),
                      "train.epochs may only grow on resume: runs/a was started for 5 epochs (3 "
                      "done), got 2");
  // The feature cache changes where the head's inputs come from, not what is learnt.
  nlohmann::json cached = run;
  cached["train"]["feature_cache"] = "off";
  cached["train"]["feature_cache_dir"] = "/elsewhere";
  CHECK_NOTHROW(ftl::check_resume_config(run, cached, 3, "runs/a"));
  // How long ranks wait for each other changes how a failure shows, not what is learnt.
  nlohmann::json patient = run;
  patient["dist"] = {{"timeout_s", 900}, {"backend", "gloo"}};
  CHECK_NOTHROW(ftl::check_resume_config(run, patient, 3, "runs/a"));
  nlohmann::json other = run;
  other["optimizer"]["lr"] = 0.2;
  REQUIRE_THROWS_AS(ftl::check_resume_config(run, other, 3, "runs/a"), ftl::ConfigError);
  REQUIRE_THROWS_WITH(ftl::check_resume_config(run, other, 3, "runs/a"),
                      "cannot resume runs/a with a different optimizer.lr: the run used 0.1, now "
                      "0.2; only train.epochs (and the feature cache and dist settings) may "
                      "change on resume");
  // The CLI adds what to type (tests/unit/cli/error_text_test.cpp).
  REQUIRE_THROWS_MATCHES(ftl::check_resume_config(run, other, 3, "runs/a"), ftl::ConfigError,
                         Catch::Predicate<ftl::ConfigError>([](const ftl::ConfigError& error) {
                           return error.choice() == ftl::Choice::kOverwriteToChange;
                         }));
}
