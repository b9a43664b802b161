#include "ftl/config/config.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "ftl/util/errors.h"
#include "support/common.h"
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
  CHECK(config.model.freeze.to_string() == "none");
  CHECK(config.data.preprocess.image_size == 224);
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

TEST_CASE("config: a config built in code is range-checked as its file would be", "[config]") {
  ftl::Config config = ftl::config_from_json(minimal());
  config.data.preprocess.image_size = 4;
  REQUIRE_THROWS_AS(ftl::validate_config(config), ConfigError);
  REQUIRE_THROWS_WITH(ftl::validate_config(config), "data.image_size must be in [8, 4096], got 4");
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
  CHECK(config.model.freeze.to_string() == "backbone");
  CHECK(config.data.preprocess.image_size == 32);
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
  CHECK(error_for("/dist/timeout_s", 0.5) == "dist.timeout_s must be in [1, 86400], got 0.5");
  CHECK_THAT(error_for("/dist/backend", "mpi"),
             Contains("dist.backend must be one of") && Contains("\"gloo\""));
  CHECK(error_for("/dist/timeout", 5) ==
        "dist.timeout is not a known key (did you mean dist.timeout_s?)");
  CHECK(error_for("/optimizer/lr", "fast") == "optimizer.lr must be a number, got \"fast\"");
  CHECK(error_for("/optimizer/momentum", 1.5) == "optimizer.momentum must be in [0, 1], got 1.5");
  CHECK(error_for("/optimizer/weight_decay", -1) == "optimizer.weight_decay must be >= 0, got -1");
  CHECK(error_for("/optimizer/nesterov", 1) == "optimizer.nesterov must be true or false, got 1");
  CHECK(error_for("/train/epochs", 2.5) == "train.epochs must be an integer, got 2.5");
  CHECK(error_for("/train/epochs", 0) == "train.epochs must be in [1, 1000000], got 0");
  CHECK(error_for("/train/val_every", 0) == "train.val_every must be in [1, 1000000], got 0");
  CHECK(error_for("/train/device", "gpu") ==
        "train.device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"gpu\"");
  CHECK(error_for("/model/freeze", "all") ==
        "model.freeze must be \"none\", \"backbone\" (all but the head) or \"up_to:NAME\" (the "
        "modules from the first to NAME, a child or a dotted path such as layer2 or features.6), "
        "got \"all\"");
  CHECK(error_for("/model/freeze", "up_to:") != "no error");
  CHECK(error_for("/model/freeze", "up_to:features..6") != "no error");
  CHECK(error_for("/model/freeze", "up_to:features.6") == "no error");  // checked at load
  CHECK(error_for("/model/head", "classifier[3]") ==
        "model.head must be \"auto\" (the family's head: fc, classifier's last Linear, "
        "heads.head, head, SqueezeNet's last conv) or a module path (\"classifier.3\"), got "
        "\"classifier[3]\"");
  CHECK(error_for("/model/head", "heads.head") == "no error");
  CHECK(error_for("/model/batchnorm", "eval") ==
        "model.batchnorm must be one of \"follow\", \"frozen\", \"train\", got \"eval\"");
  CHECK(error_for("/model/backbone_lr_mult", 0) == "model.backbone_lr_mult must be > 0, got 0");
  CHECK(error_for("/train/label_smoothing", 1) == "train.label_smoothing must be in [0, 1), got 1");
  CHECK(error_for("/optimizer/schedule/type", "linear") ==
        "optimizer.schedule.type must be one of \"constant\", \"step\", \"multistep\", "
        "\"cosine\", \"onecycle\", got \"linear\"");
  CHECK(error_for("/optimizer/schedule/milestones", json({3, 2})) ==
        "optimizer.schedule.milestones must be strictly increasing, got [3,2]");
  CHECK(error_for("/optimizer/schedule/milestones", json({0})) ==
        "optimizer.schedule.milestones must be in [1, 1000000], got 0");
  CHECK(error_for("/optimizer/schedule/milestones", 3) ==
        "optimizer.schedule.milestones must be a list of integers, got 3");
  CHECK(error_for("/optimizer/schedule/stepsize", 3) ==
        "optimizer.schedule.stepsize is not a known key (did you mean "
        "optimizer.schedule.step_size?)");
  CHECK(error_for("/train/precision", "fp16") ==
        "train.precision must be one of \"fp32\", \"bf16\", got \"fp16\"");
  CHECK(error_for("/train/memory_format", "nhwc") ==
        "train.memory_format must be one of \"channels_last\", \"contiguous\", got \"nhwc\"");
  CHECK(error_for("/train/feature_cache", "yes") ==
        "train.feature_cache must be one of \"auto\", \"off\", \"disk\", got \"yes\"");
  CHECK(error_for("/train/feature_cache", true) ==
        "train.feature_cache must be a string, got true");
  CHECK(error_for("/train/early_stopping/metric", "loss") ==
        "train.early_stopping.metric must be one of \"val_loss\", \"val_acc\", \"val_loss_ema\", "
        "\"val_acc_ema\", got \"loss\"");
  CHECK(error_for("/train/class_weights", "equal") ==
        "train.class_weights must be \"none\", \"balanced\" or an object of class weights "
        "({\"cat\": 2.0}), got \"equal\"");
  CHECK(error_for("/train/class_weights", json({{"cat", -1}})) ==
        "train.class_weights.cat must be a number > 0, got -1");
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
                      "data.val is required (validation images: ImageFolder root or CSV "
                      "manifest), or set data.val_fraction to hold out part of data.train");
  j["data"]["val_fraction"] = 0.2;
  ftl::validate_config(ftl::config_from_json(j));
  j["data"]["val"] = "data/val";
  REQUIRE_THROWS_WITH(ftl::validate_config(ftl::config_from_json(j)),
                      "data.val and data.val_fraction exclude each other: data.val is "
                      "\"data/val\", data.val_fraction is 0.2");
  j["data"]["val_fraction"] = 1.0;
  REQUIRE_THROWS_WITH(ftl::config_from_json(j), Contains("data.val_fraction must be"));
  ftl::Config config = ftl::config_from_json(minimal());
  config.data.batch_size = 1;
  const std::string batch_of_one =
      "data.batch_size must be >= 2 when BatchNorm layers train (set model.batchnorm "
      "\"frozen\" to train with batches of one), got 1";
  REQUIRE_THROWS_WITH(ftl::validate_config(config), batch_of_one);
  config.model.freeze = ftl::FreezePolicy::parse("backbone");
  CHECK_NOTHROW(ftl::validate_config(config));
  config.model.unfreeze_at_epoch = 3;  // BatchNorm trains from epoch 3
  REQUIRE_THROWS_WITH(ftl::validate_config(config), batch_of_one);
  config.model.batchnorm = ftl::BatchNormPolicy::kFrozen;
  CHECK_NOTHROW(ftl::validate_config(config));
  config.model.unfreeze_at_epoch = 1;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "model.unfreeze_at_epoch must be >= 2 (1 would unfreeze before the first "
                      "epoch; use model.freeze \"none\"), got 1");
  config.model.freeze = ftl::FreezePolicy::parse("none");
  config.model.unfreeze_at_epoch = 2;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "model.unfreeze_at_epoch needs a frozen part (model.freeze \"backbone\" or "
                      "\"up_to:NAME\"), but model.freeze is \"none\"");
  config.model.unfreeze_at_epoch = 0;
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
  // The CLI puts "--set " before it (tests/unit/cli/error_text_test.cpp).
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "train.epochs"),
                      "expects key=value, got \"train.epochs\"");
  REQUIRE_THROWS_MATCHES(ftl::apply_override(config, "train.epochs"), ftl::ConfigError,
                         Catch::Predicate<ftl::ConfigError>([](const ftl::ConfigError& error) {
                           return error.choice() == ftl::Choice::kOverride;
                         }));
  REQUIRE_THROWS_WITH(
      ftl::apply_override(config, "model.freeze=all"),
      "model.freeze must be \"none\", \"backbone\" (all but the head) or \"up_to:NAME\" (the "
      "modules from the first to NAME, a child or a dotted path such as layer2 or features.6), "
      "got \"all\"");
  CHECK(config.optimizer.lr == 0.01);  // a rejected override changes nothing
}

TEST_CASE("config: model.freeze is parsed once into a typed policy", "[config]") {
  using Kind = ftl::FreezePolicy::Kind;
  CHECK(ftl::FreezePolicy::parse("none").kind == Kind::kNone);
  CHECK(ftl::FreezePolicy::parse("backbone").kind == Kind::kBackbone);
  const ftl::FreezePolicy dotted = ftl::FreezePolicy::parse("up_to:features.6");
  CHECK(dotted.kind == Kind::kUpTo);
  CHECK(dotted.up_to == "features.6");
  CHECK(dotted.to_string() == "up_to:features.6");
  CHECK(ftl::FreezePolicy::parse("backbone").to_string() == "backbone");
  REQUIRE_THROWS_WITH(ftl::FreezePolicy::parse("up_to:"),
                      "model.freeze must be \"none\", \"backbone\" or \"up_to:NAME\", got "
                      "\"up_to:\"");
  REQUIRE_THROWS_AS(ftl::FreezePolicy::parse("Backbone"), ftl::ConfigError);

  ftl::Config config =
      ftl::config_from_json({{"model", {{"path", "m.pt"}, {"freeze", "up_to:layer2"}}},
                             {"data", {{"train", "t"}}},
                             {"output", {{"dir", "o"}}}});
  CHECK(config.model.freeze == ftl::FreezePolicy{Kind::kUpTo, "layer2"});
  CHECK(ftl::config_to_json(config)["model"]["freeze"] == "up_to:layer2");
  ftl::apply_override(config, "model.freeze=backbone");
  CHECK(config.model.freeze.kind == Kind::kBackbone);
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
  const auto docs = ftl::option_docs();  // which keys: option_table_test.cpp
  bool found_lr = false;
  for (const auto& doc : docs) {
    if (doc.key == "optimizer.lr") {
      found_lr = true;
      CHECK(doc.default_value == "0.001");
    }
    if (doc.key == "train.feature_cache") CHECK(doc.default_value == "\"auto\"");
    if (doc.key == "train.precision") CHECK(doc.default_value == "\"fp32\"");
    if (doc.key == "train.memory_format") CHECK(doc.default_value == "\"channels_last\"");
    if (doc.key == "model.path") CHECK(doc.default_value.empty());
  }
  CHECK(found_lr);
}

TEST_CASE("config: each schedule takes its own keys and no others", "[config]") {
  auto validated = [](const json& schedule) {
    json j = minimal();
    j["optimizer"]["schedule"] = schedule;
    try {
      ftl::validate_config(ftl::config_from_json(j));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("ok");
  };
  CHECK(validated({{"type", "step"}, {"step_size", 3}, {"gamma", 0.5}}) == "ok");
  CHECK(validated({{"type", "multistep"}, {"milestones", {2, 5}}}) == "ok");
  CHECK(validated({{"type", "cosine"}, {"min_lr", 1e-5}, {"warmup_epochs", 0.5}}) == "ok");
  CHECK(validated({{"type", "step"}}) ==
        "optimizer.schedule.type \"step\" needs optimizer.schedule.step_size >= 1");
  CHECK(validated({{"type", "multistep"}}) ==
        "optimizer.schedule.type \"multistep\" needs optimizer.schedule.milestones, e.g. [30, 60]");
  CHECK(validated({{"type", "cosine"}, {"step_size", 3}}) ==
        "optimizer.schedule.step_size is used only by type \"step\", not by "
        "optimizer.schedule.type \"cosine\"");
  CHECK(validated({{"type", "constant"}, {"milestones", {3}}}) ==
        "optimizer.schedule.milestones is used only by type \"multistep\", not by "
        "optimizer.schedule.type \"constant\"");
  CHECK(validated({{"type", "cosine"}, {"gamma", 0.5}}) ==
        "optimizer.schedule.gamma is used only by types \"step\" and \"multistep\", not by "
        "optimizer.schedule.type \"cosine\"");
  CHECK(validated({{"type", "step"}, {"step_size", 2}, {"min_lr", 0.1}}) ==
        "optimizer.schedule.min_lr is used only by type \"cosine\", not by "
        "optimizer.schedule.type \"step\"");
  CHECK(validated({{"type", "cosine"}, {"min_lr", 0.1}}) ==
        "optimizer.schedule.min_lr must be <= optimizer.lr (0.001), got 0.1");
  CHECK(validated({{"warmup_epochs", 10}}) ==
        "optimizer.schedule.warmup_epochs must be < train.epochs (10), got 10");
}

TEST_CASE("config: lists and class weights are read from the file and from --set", "[config]") {
  ftl::Config config = ftl::config_from_json(minimal());
  ftl::apply_override(config, "optimizer.schedule.milestones=3,6");
  CHECK(config.optimizer.schedule.milestones == std::vector<std::int64_t>{3, 6});
  ftl::apply_override(config, "optimizer.schedule.milestones=[4]");
  CHECK(config.optimizer.schedule.milestones == std::vector<std::int64_t>{4});
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "optimizer.schedule.milestones=4,x"),
                      "optimizer.schedule.milestones: \"[4,x]\" is not valid JSON");
  ftl::apply_override(config, "train.class_weights=balanced");
  CHECK(config.train.class_weights == "balanced");
  ftl::apply_override(config, R"(train.class_weights={"cat": 2, "dog": 0.5})");
  CHECK(config.train.class_weights == json({{"cat", 2}, {"dog", 0.5}}));
  ftl::apply_override(config, "train.early_stopping.patience=3");
  CHECK(config.train.early_stopping.patience == 3);

  json j = minimal();
  j["train"]["class_weights"] = {{"cat", 3}};
  j["train"]["early_stopping"] = {{"metric", "val_acc"}, {"patience", 2}, {"min_delta", 0.01}};
  const ftl::Config read = ftl::config_from_json(j);
  CHECK(read.train.class_weights == json({{"cat", 3}}));
  CHECK(read.train.early_stopping.metric == ftl::Metric::kValAcc);
  CHECK(read.train.early_stopping.min_delta == 0.01);
  // The resolved config writes them back in the same shapes.
  const json resolved = ftl::config_to_json(read);
  CHECK(resolved["train"]["class_weights"] == json({{"cat", 3}}));
  CHECK(resolved["optimizer"]["schedule"]["milestones"] == json::array());
  CHECK(ftl::config_to_json(ftl::config_from_json(resolved)) == resolved);
}

TEST_CASE("config: configs/example.json holds every key at its default", "[config]") {
  const std::string path = ftl::testing::kSourceDir + "/configs/example.json";
  std::ifstream in(path);
  const json file = json::parse(in);
  ftl::Config defaults;
  defaults.model.path = "models/resnet18.pt";
  defaults.data.train = "data/train";
  defaults.data.val = "data/val";
  defaults.output.dir = "runs/example";
  CHECK(file == ftl::config_to_json(defaults));  // every key, no more, no other value
  CHECK(ftl::config_to_json(ftl::load_config_file(path)) == ftl::config_to_json(defaults));
}

TEST_CASE("config: transform keys are typed, ranged and used only where they apply", "[config]") {
  auto error_for = [](const json& data) {
    json j = minimal();
    j["data"].update(data);
    try {
      ftl::validate_config(ftl::config_from_json(j));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_for({{"augment", true}, {"crop_scale", {0.2, 0.9}}, {"color_jitter", 0.4}}) ==
        "no error");
  CHECK(error_for({{"crop_scale", {0.5, 0.2}}, {"augment", true}}) ==
        "data.crop_scale must be [min, max], two numbers with min <= max, got [0.5,0.2]");
  CHECK(error_for({{"crop_scale", {0.0, 0.5}}, {"augment", true}}) ==
        "data.crop_scale must be in (0, 1], got 0");
  CHECK(error_for({{"crop_ratio", 1.0}, {"augment", true}}) ==
        "data.crop_ratio must be [min, max], two numbers with min <= max, got 1.0");
  CHECK(error_for({{"color_jitter", 0.4}}) ==
        "data.crop_scale, data.crop_ratio, data.hflip, data.color_jitter, data.auto_augment, "
        "data.rand_augment and data.random_erasing are used only when data.augment is true");
  CHECK(error_for({{"hflip", false}}) != "no error");
  CHECK(error_for({{"resize", 200}}) ==
        "data.resize must be >= data.image_size (224) or 0, got 200");
  CHECK(error_for({{"resize", 300}}) == "no error");
  CHECK(error_for({{"resize", 300}, {"eval_resize", "stretch"}}) ==
        "data.resize is used only by data.eval_resize \"center_crop\", not by \"stretch\" (which "
        "resizes straight to data.image_size)");
  CHECK(error_for({{"eval_resize", "squash"}}) ==
        "data.eval_resize must be one of \"center_crop\", \"stretch\", got \"squash\"");
  CHECK(error_for({{"cache", "disk"}}) ==
        "data.cache must be one of \"none\", \"memory\", got \"disk\"");
  CHECK(error_for({{"cache_max_bytes", 1000}}) ==
        "data.cache_max_bytes is used only by data.cache \"memory\"");
  CHECK(error_for({{"cache_max_bytes", 1000}, {"cache", "memory"}}) == "no error");
  CHECK(error_for({{"prefetch", -1}}) == "data.prefetch must be in [0, 1024], got -1");

  ftl::Config config = ftl::config_from_json(minimal());
  ftl::apply_override(config, "data.crop_scale=0.3,0.8");
  CHECK(config.data.augment.scale == std::array<double, 2>{0.3, 0.8});
  ftl::apply_override(config, "data.crop_ratio=[0.5, 2]");
  CHECK(config.data.augment.ratio == std::array<double, 2>{0.5, 2.0});
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "data.crop_ratio=2"),
                      "data.crop_ratio must be [min, max], two numbers with min <= max, got [2]");
  ftl::apply_override(config, "data.eval_resize=stretch");
  CHECK(config.data.preprocess.eval_resize == ftl::EvalResize::kStretch);
  CHECK(ftl::config_to_json(config)["data"]["crop_scale"] == json({0.3, 0.8}));
}

TEST_CASE("config: bytes that are not UTF-8 and numbers beyond a double are config errors",
          "[config]") {
  // Both were found by fuzzing (tests/fuzz/corpus/config): they escaped as JSON library errors.
  ftl::Config config = ftl::config_from_json(minimal());
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "data.train=caf\xE9"),
                      "data.train: the value is not valid UTF-8 (a config is JSON text)");
  REQUIRE_THROWS_MATCHES(ftl::apply_override(config, "data.train=caf\xE9"), ftl::ConfigError,
                         Catch::Predicate<ftl::ConfigError>([](const ftl::ConfigError& error) {
                           return error.choice() == ftl::Choice::kOverride;
                         }));
  REQUIRE_THROWS_WITH(ftl::apply_override(config, "optimizer.schedule.milestones=[1e999]"),
                      "optimizer.schedule.milestones: \"[1e999]\" is not valid JSON");
  ftl::testing::TempDir dir;
  std::ofstream(dir / "huge.json") << R"({"optimizer": {"lr": 1e99999}})";
  REQUIRE_THROWS_AS(ftl::load_config_file((dir / "huge.json").string()), ConfigError);
  REQUIRE_THROWS_WITH(ftl::load_config_file((dir / "huge.json").string()),
                      Contains("huge.json: invalid JSON") && Contains("number overflow"));
}

TEST_CASE("config: data.random_erasing is read, written back and checked by key", "[config]") {
  auto with_erasing = [](const json& erasing) {
    json j = minimal();
    j["data"]["augment"] = true;
    j["data"]["random_erasing"] = erasing;
    return j;
  };
  auto error_for = [&](const json& erasing) {
    try {
      ftl::config_from_json(with_erasing(erasing));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const ftl::Config noise = ftl::config_from_json(with_erasing(
      {{"p", 0.25}, {"scale", {0.02, 0.33}}, {"ratio", {0.3, 3.3}}, {"value", "random"}}));
  CHECK(noise.data.augment.erasing.p == 0.25);
  CHECK(noise.data.augment.erasing.value.random);
  const ftl::Config zero = ftl::config_from_json(with_erasing({{"p", 0.5}, {"value", 0}}));
  CHECK_FALSE(zero.data.augment.erasing.value.random);
  CHECK(zero.data.augment.erasing.value.value == 0.0);
  CHECK(ftl::config_to_json(zero)["data"]["random_erasing"]["value"] == 0.0);
  CHECK(ftl::config_to_json(noise)["data"]["random_erasing"]["value"] == "random");

  CHECK(error_for({{"value", "noise"}}) ==
        "data.random_erasing.value must be \"random\" or a number, got \"noise\"");
  CHECK(error_for({{"p", 1.5}}) == "data.random_erasing.p must be in [0, 1], got 1.5");
  CHECK(error_for({{"ratio", {0.0, 2.0}}}) == "data.random_erasing.ratio must be > 0, got 0");
  CHECK(error_for({{"pp", 0.5}}) ==
        "data.random_erasing.pp is not a known key (did you mean data.random_erasing.p?)");
  json off = minimal();
  off["data"]["random_erasing"] = {{"p", 0.25}};
  CHECK_THROWS_WITH(
      ftl::validate_config(ftl::config_from_json(off)),
      Contains(
          "data.rand_augment and data.random_erasing are used only when data.augment is true"));
  CHECK_NOTHROW(ftl::validate_config(noise));

  ftl::Config overridden = ftl::config_from_json(with_erasing({{"p", 0.25}}));
  ftl::apply_override(overridden, "data.random_erasing.value=0.5");
  CHECK(overridden.data.augment.erasing.value.value == 0.5);
  ftl::apply_override(overridden, "data.random_erasing.value=random");
  CHECK(overridden.data.augment.erasing.value.random);
  CHECK_THROWS_WITH(ftl::apply_override(overridden, "data.random_erasing.value=grey"),
                    "data.random_erasing.value must be \"random\" or a number, got \"grey\"");
}

TEST_CASE("config: train.mixup, timm's Mixup keys, and where they apply", "[config]") {
  auto error_for = [](const json& mixup) {
    json j = minimal();
    j["train"]["mixup"] = mixup;
    try {
      ftl::validate_config(ftl::config_from_json(j));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  json j = minimal();
  j["train"]["mixup"] = {{"mixup_alpha", 0.8}, {"cutmix_alpha", 1.0}, {"switch_prob", 0.4}};
  const ftl::Config both = ftl::config_from_json(j);
  CHECK(both.train.mixup.enabled());
  CHECK(both.train.mixup.switch_prob == 0.4);
  CHECK(both.train.mixup.prob == 1.0);
  CHECK_FALSE(ftl::Config{}.train.mixup.enabled());
  CHECK(error_for({{"cutmix_alpha", 1.0}, {"prob", 0.5}}) == "no error");
  CHECK(error_for({{"mixup_alpha", -0.1}}) == "train.mixup.mixup_alpha must be >= 0, got -0.1");
  CHECK(error_for({{"mixup_alpha", 0.8}, {"prob", 1.5}}) ==
        "train.mixup.prob must be in [0, 1], got 1.5");
  CHECK(error_for({{"prob", 0.5}}) ==
        "train.mixup.prob and train.mixup.switch_prob are used only when "
        "train.mixup.mixup_alpha or train.mixup.cutmix_alpha is above 0");
  CHECK(error_for({{"mixup_alpha", 0.8}, {"switch_prob", 0.2}}) ==
        "train.mixup.switch_prob is used only when both train.mixup.mixup_alpha and "
        "train.mixup.cutmix_alpha are above 0");
  CHECK(error_for({{"mixup_alpah", 0.8}}) ==
        "train.mixup.mixup_alpah is not a known key (did you mean train.mixup.mixup_alpha?)");
}

TEST_CASE("config: AdamW's keys and SGD's are each refused for the other optimizer", "[config]") {
  json j = minimal();
  j["optimizer"] = {{"type", "adamw"}, {"betas", {0.95, 0.9}}, {"eps", 1e-6}};
  ftl::Config config = ftl::config_from_json(j);
  CHECK(config.optimizer.type == ftl::OptimizerType::kAdamW);
  CHECK(config.optimizer.betas == std::array<double, 2>{0.95, 0.9});  // either order
  CHECK_NOTHROW(ftl::validate_config(config));
  CHECK(ftl::config_to_json(config)["optimizer"]["type"] == "adamw");

  j["optimizer"]["betas"] = {0.9, 1.0};
  REQUIRE_THROWS_WITH(ftl::config_from_json(j), "optimizer.betas must be in [0, 1), got 1");
  j["optimizer"]["betas"] = {0.9};
  REQUIRE_THROWS_WITH(ftl::config_from_json(j), "optimizer.betas must be two numbers, got [0.9]");
  j["optimizer"]["betas"] = {0.9, 0.999};
  j["optimizer"]["type"] = "adam";
  REQUIRE_THROWS_WITH(ftl::config_from_json(j),
                      "optimizer.type must be one of \"sgd\", \"adamw\", got \"adam\"");

  config = ftl::config_from_json(minimal());
  config.optimizer.type = ftl::OptimizerType::kAdamW;
  config.optimizer.momentum = 0.5;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "optimizer.momentum and optimizer.nesterov are used only by optimizer.type "
                      "\"sgd\", not by optimizer.type \"adamw\" (its momentum is "
                      "optimizer.betas[0])");
  config.optimizer.momentum = 0.9;
  config.optimizer.nesterov = true;
  REQUIRE_THROWS_WITH(ftl::validate_config(config), Contains("optimizer.nesterov are used only"));

  config = ftl::config_from_json(minimal());
  config.optimizer.eps = 1e-6;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "optimizer.betas and optimizer.eps are used only by optimizer.type "
                      "\"adamw\", not by optimizer.type \"sgd\"");
}

TEST_CASE("config: onecycle's keys, and what it replaces", "[config]") {
  ftl::Config config = ftl::config_from_json(minimal());
  config.optimizer.schedule.pct_start = 0.3;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "optimizer.schedule.max_lr, pct_start, div, div_final and momentum_range "
                      "are used only by type \"onecycle\", not by optimizer.schedule.type "
                      "\"constant\"");
  config.optimizer.schedule.type = ftl::ScheduleType::kOneCycle;
  CHECK_NOTHROW(ftl::validate_config(config));
  config.optimizer.schedule.warmup_epochs = 1;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "optimizer.schedule.warmup_epochs is not used by optimizer.schedule.type "
                      "\"onecycle\", whose lr already rises from max_lr / div over pct_start of "
                      "the steps");
  config.optimizer.schedule.warmup_epochs = 0;
  config.optimizer.momentum = 0.8;
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "optimizer.momentum is not used with optimizer.schedule.type \"onecycle\", "
                      "which moves the momentum along optimizer.schedule.momentum_range");
  config.optimizer.momentum = 0.9;
  config.optimizer.type = ftl::OptimizerType::kAdamW;
  config.optimizer.betas = {0.8, 0.999};
  REQUIRE_THROWS_WITH(ftl::validate_config(config),
                      "optimizer.betas[0] is not used with optimizer.schedule.type \"onecycle\", "
                      "which moves beta1 along optimizer.schedule.momentum_range");
  config.optimizer.betas = {0.9, 0.99};  // beta2 still applies
  CHECK_NOTHROW(ftl::validate_config(config));

  json j = minimal();
  j["optimizer"]["schedule"] = {{"type", "onecycle"}, {"pct_start", 0}};
  REQUIRE_THROWS_WITH(ftl::config_from_json(j),
                      "optimizer.schedule.pct_start must be in (0, 1], got 0");
  j["optimizer"]["schedule"] = {{"type", "onecycle"}, {"div", 0.5}};
  REQUIRE_THROWS_WITH(ftl::config_from_json(j), "optimizer.schedule.div must be >= 1, got 0.5");
  j["optimizer"]["schedule"] = {{"type", "onecycle"}, {"momentum_range", {0.95, 0.85}}};
  REQUIRE_THROWS_WITH(ftl::config_from_json(j),
                      "optimizer.schedule.momentum_range must be [min, max], two numbers with "
                      "min <= max, got [0.95,0.85]");
  j["optimizer"]["schedule"] = {{"type", "onecycle"}, {"max_lr", -1}};
  REQUIRE_THROWS_WITH(ftl::config_from_json(j), "optimizer.schedule.max_lr must be >= 0, got -1");
}

TEST_CASE("config: train.accumulate_steps is a count of batches", "[config]") {
  json j = minimal();
  j["train"]["accumulate_steps"] = 4;
  CHECK(ftl::config_from_json(j).train.accumulate_steps == 4);
  j["train"]["accumulate_steps"] = 0;
  REQUIRE_THROWS_WITH(ftl::config_from_json(j),
                      "train.accumulate_steps must be in [1, 65536], got 0");
  j["train"]["accumulate_steps"] = 1.5;
  REQUIRE_THROWS_WITH(ftl::config_from_json(j),
                      Contains("train.accumulate_steps must be an integer"));
}

TEST_CASE("config: data.auto_augment and data.rand_augment", "[config]") {
  json j = minimal();
  j["data"]["augment"] = true;
  j["data"]["auto_augment"] = "rand";
  j["data"]["rand_augment"] = {{"num_ops", 3}, {"magnitude", 12}, {"magnitude_std", 0}};
  const ftl::Config config = ftl::config_from_json(j);
  CHECK(config.data.augment.auto_augment == ftl::AutoAugmentPolicy::kRand);
  CHECK(config.data.augment.rand_augment.num_ops == 3);
  CHECK(config.data.augment.rand_augment.magnitude == 12);
  CHECK(config.data.augment.rand_augment.magnitude_std == 0);
  CHECK_NOTHROW(ftl::validate_config(config));

  j["data"]["auto_augment"] = "trivial_wide";
  REQUIRE_THROWS_WITH(ftl::validate_config(ftl::config_from_json(j)),
                      "data.rand_augment is used only by data.auto_augment \"rand\", not by "
                      "\"trivial_wide\"");
  j["data"].erase("rand_augment");
  CHECK_NOTHROW(ftl::validate_config(ftl::config_from_json(j)));
  j["data"]["augment"] = false;
  REQUIRE_THROWS_WITH(ftl::validate_config(ftl::config_from_json(j)),
                      Contains("data.auto_augment, data.rand_augment and data.random_erasing are "
                               "used only when data.augment is true"));
  j["data"]["auto_augment"] = "auto";
  REQUIRE_THROWS_WITH(ftl::config_from_json(j),
                      "data.auto_augment must be one of \"none\", \"trivial_wide\", \"rand\", got "
                      "\"auto\"");
  j["data"]["auto_augment"] = "rand";
  j["data"]["rand_augment"] = {{"magnitude", 31}};
  REQUIRE_THROWS_WITH(ftl::config_from_json(j),
                      "data.rand_augment.magnitude must be in [0, 30], got 31");
}

TEST_CASE("config: every config in configs/ parses and validates", "[config]") {
  std::size_t read = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(ftl::testing::kSourceDir + "/configs")) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    CHECK_NOTHROW(ftl::validate_config(ftl::load_config_file(entry.path().string())));
    ++read;
  }
  CHECK(read >= 6);  // example, the four demo steps and the small-data recipe
}
