#include "ftl/config.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/errors.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::ConfigError;
using nlohmann::json;

namespace {

json minimal() {
  return {{"model", {{"path", "r18.pt"}}},
          {"data", {{"train", "data/train"}, {"val", "data/val"}}},
          {"output", {{"dir", "runs/x"}}}};
}

}  // namespace

TEST_CASE("config: defaults follow the classic fine-tuning recipe", "[config]") {
  const ftl::Config config = ftl::config_from_json(minimal());
  CHECK(config.model.path == "r18.pt");
  CHECK(config.model.freeze == "none");
  CHECK(config.data.image_size == 224);
  CHECK(config.data.batch_size == 32);
  CHECK(config.data.workers == 0);
  CHECK(config.optimizer.lr == 0.001);
  CHECK(config.optimizer.momentum == 0.9);
  CHECK(config.optimizer.weight_decay == 0.0);
  CHECK_FALSE(config.optimizer.nesterov);
  CHECK(config.train.epochs == 10);
  CHECK(config.train.seed == 0);
  CHECK(config.train.threads == 0);
  CHECK(config.train.device == "cpu");
  CHECK(config.output.dir == "runs/x");
  CHECK_NOTHROW(ftl::validate_config(config));
}

TEST_CASE("config: values from the file are read", "[config]") {
  json j = minimal();
  j["optimizer"] = {{"lr", 0.01}, {"momentum", 0.5}, {"nesterov", true}, {"weight_decay", 1e-4}};
  j["train"] = {{"epochs", 3}, {"seed", 7}, {"threads", 2}, {"device", "cuda:1"}};
  j["model"]["freeze"] = "backbone";
  j["data"]["image_size"] = 32;
  const ftl::Config config = ftl::config_from_json(j);
  CHECK(config.optimizer.lr == 0.01);
  CHECK(config.optimizer.momentum == 0.5);
  CHECK(config.optimizer.nesterov);
  CHECK(config.optimizer.weight_decay == 1e-4);
  CHECK(config.train.epochs == 3);
  CHECK(config.train.seed == 7);
  CHECK(config.train.threads == 2);
  CHECK(config.train.device == "cuda:1");
  CHECK(config.model.freeze == "backbone");
  CHECK(config.data.image_size == 32);
}

TEST_CASE("config: every validation error names the key and the value", "[config]") {
  auto error_for = [](const std::string& pointer, const json& value) {
    json j = minimal();
    j[json::json_pointer(pointer)] = value;
    try {
      ftl::config_from_json(j);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_for("/optimizer/lrr", 0.1) ==
        "optimizer.lrr is not a known key (did you mean optimizer.lr?)");
  CHECK(error_for("/optimiser", json::object({{"lr", 1}})) == "optimiser is not a known key");
  CHECK(error_for("/optimizer/lr", -0.1) == "optimizer.lr must be > 0, got -0.1");
  CHECK(error_for("/optimizer/lr", "fast") == "optimizer.lr must be a number, got \"fast\"");
  CHECK(error_for("/optimizer/momentum", 1.5) == "optimizer.momentum must be in [0, 1], got 1.5");
  CHECK(error_for("/optimizer/weight_decay", -1) == "optimizer.weight_decay must be >= 0, got -1");
  CHECK(error_for("/optimizer/nesterov", 1) == "optimizer.nesterov must be true or false, got 1");
  CHECK(error_for("/train/epochs", 2.5) == "train.epochs must be an integer, got 2.5");
  CHECK(error_for("/train/epochs", 0) == "train.epochs must be in [1, 1000000], got 0");
  CHECK(error_for("/train/device", "gpu") ==
        "train.device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"gpu\"");
  CHECK(error_for("/model/freeze", "all") ==
        "model.freeze must be one of \"none\", \"backbone\", got \"all\"");
  CHECK(error_for("/model/path", 3) == "model.path must be a string, got 3");
  CHECK(error_for("/data/batch_size", 0) == "data.batch_size must be in [1, 65536], got 0");
  CHECK(error_for("/data/image_size", 4) == "data.image_size must be in [8, 4096], got 4");
  CHECK(error_for("/data/workers", -1) == "data.workers must be in [0, 256], got -1");
  CHECK(error_for("/train/threads", -2) == "train.threads must be in [0, 1024], got -2");
  CHECK(error_for("/train/seed", -1) == "train.seed must be in [0, 9007199254740991], got -1");
}

TEST_CASE("config: the top level must be an object", "[config]") {
  REQUIRE_THROWS_WITH(ftl::config_from_json(json::array()),
                      "the config must be a JSON object, got []");
}

TEST_CASE("config: required keys and cross-key rules", "[config]") {
  json j = minimal();
  j["data"].erase("val");
  REQUIRE_THROWS_WITH(ftl::validate_config(ftl::config_from_json(j)),
                      Contains("data.val is required"));
  ftl::Config config = ftl::config_from_json(minimal());
  config.data.batch_size = 1;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "data.batch_size must be >= 2 when BatchNorm trains (model.freeze "
                      "\"none\"), got 1");
  config.model.freeze = "backbone";
  CHECK_NOTHROW(ftl::validate_config(config));
  config.optimizer.nesterov = true;
  config.optimizer.momentum = 0;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "optimizer.nesterov needs optimizer.momentum > 0, got 0");
}

TEST_CASE("config: --set overrides are typed and checked like the file", "[config]") {
  ftl::Config config = ftl::config_from_json(minimal());
  ftl::apply_override(config, "optimizer.lr=0.01");
  ftl::apply_override(config, "train.epochs=3");
  ftl::apply_override(config, "optimizer.nesterov=true");
  ftl::apply_override(config, "output.dir=runs/with=sign");
  CHECK(config.optimizer.lr == 0.01);
  CHECK(config.train.epochs == 3);
  CHECK(config.optimizer.nesterov);
  CHECK(config.output.dir == "runs/with=sign");

  REQUIRE_THROWS_AS(ftl::apply_override(config, "optimizer.lr=-1"), ConfigError);
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "optimizer.lr=-1"),
                      "optimizer.lr must be > 0, got -1");
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "optimizer.lr=abc"),
                      "optimizer.lr must be a number, got \"abc\"");
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "train.epochs=3.5"),
                      "train.epochs must be an integer, got \"3.5\"");
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "optimizer.nesterov=yes"),
                      "optimizer.nesterov must be true or false, got \"yes\"");
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "train.epoch=3"),
                      "train.epoch is not a known key (did you mean train.epochs?)");
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "train.epochs"),
                      "--set expects key=value, got \"train.epochs\"");
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "model.freeze=all"),
                      "model.freeze must be one of \"none\", \"backbone\", got \"all\"");
  CHECK(config.optimizer.lr == 0.01);  // a rejected override changes nothing
}

TEST_CASE("config: the resolved config round-trips through JSON", "[config]") {
  ftl::Config config = ftl::config_from_json(minimal());
  ftl::apply_override(config, "optimizer.lr=0.05");
  const json resolved = ftl::config_to_json(config);
  CHECK(resolved["optimizer"]["lr"] == 0.05);
  CHECK(resolved["train"]["epochs"] == 10);  // defaults are written too
  const ftl::Config again = ftl::config_from_json(resolved);
  CHECK(ftl::config_to_json(again) == resolved);
}

TEST_CASE("config: files that are missing or not JSON name the path", "[config]") {
  ftl::testing::TempDir dir;
  REQUIRE_THROWS_WITH(ftl::load_config_file((dir / "none.json").string()),
                      Contains("cannot open config file") && Contains("none.json"));
  const auto bad = dir / "bad.json";
  std::ofstream(bad) << "{\"model\": ";
  REQUIRE_THROWS_WITH(ftl::load_config_file(bad.string()),
                      Contains(bad.string() + ": invalid JSON"));
  const auto typo = dir / "typo.json";
  std::ofstream(typo) << R"({"train": {"epoch": 3}})";
  REQUIRE_THROWS_WITH(ftl::load_config_file(typo.string()),
                      typo.string() +
                          ": train.epoch is not a known key (did you mean "
                          "train.epochs?)");
}

TEST_CASE("config: option docs list every key with its default", "[config]") {
  const auto docs = ftl::option_docs();
  REQUIRE(docs.size() == 16);
  bool found_lr = false;
  for (const auto& doc : docs) {
    if (doc.key == "optimizer.lr") {
      found_lr = true;
      CHECK(doc.default_value == "0.001");
    }
    if (doc.key == "model.path") CHECK(doc.default_value.empty());
  }
  CHECK(found_lr);
}
