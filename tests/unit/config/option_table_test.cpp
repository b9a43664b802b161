// The option table is the one place that defines an option: what --help lists (option_docs),
// configs/example.json and configs/README.md must name exactly its keys, and its marks decide
// which options a resumed run may change and which make up the feature-cache key.
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "ftl/config/config.h"
#include "ftl/train/feature_cache.h"
#include "support/common.h"

using nlohmann::json;

namespace {

using KeySet = std::set<std::string>;

KeySet table_keys() {
  KeySet keys;
  for (const ftl::OptionDoc& doc : ftl::option_docs()) keys.insert(doc.key);
  return keys;
}

// The dotted keys of a config's values: a section's keys, down to the options (an option's
// value may itself be an object, as train.class_weights's).
void add_leaf_keys(const json& object, const std::string& prefix, const KeySet& options,
                   KeySet& keys) {
  for (const auto& [name, value] : object.items()) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (value.is_object() && options.count(key) == 0) {
      add_leaf_keys(value, key, options, keys);
    } else {
      keys.insert(key);
    }
  }
}

KeySet example_keys() {
  const std::string text =
      ftl::testing::read_file(ftl::testing::kSourceDir + "/configs/example.json");
  REQUIRE_FALSE(text.empty());
  KeySet keys;
  add_leaf_keys(json::parse(text), "", table_keys(), keys);
  return keys;
}

// The keys in the first column of the table under "## Keys" in configs/README.md: every
// `quoted` word of that cell (a row may document several keys, "`data.train`, `data.val`").
KeySet readme_keys() {
  std::istringstream lines(
      ftl::testing::read_file(ftl::testing::kSourceDir + "/configs/README.md"));
  KeySet keys;
  bool in_keys = false;
  const std::regex quoted("`([^`]+)`");
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("## ", 0) == 0) in_keys = line == "## Keys";
    if (!in_keys || line.rfind("| `", 0) != 0) continue;
    const std::string first_cell = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator match(first_cell.begin(), first_cell.end(), quoted), end;
         match != end; ++match) {
      keys.insert((*match)[1].str());
    }
  }
  return keys;
}

KeySet keys_on_resume(ftl::OnResume rule) {
  KeySet keys;
  for (const ftl::OptionDoc& doc : ftl::option_docs()) {
    if (doc.on_resume == rule) keys.insert(doc.key);
  }
  return keys;
}

KeySet keys_in_feature_key(ftl::FeatureKey part) {
  KeySet keys;
  for (const ftl::OptionDoc& doc : ftl::option_docs()) {
    if (doc.feature_key == part) keys.insert(doc.key);
  }
  return keys;
}

std::string settings_text(const ftl::Config& config, const std::string& backbone,
                          const char* device) {
  return ftl::feature_cache_settings(config, backbone, torch::Device(device)).dump();
}

}  // namespace

TEST_CASE("option table: each key is defined once", "[config]") {
  const std::vector<ftl::OptionDoc> docs = ftl::option_docs();
  CHECK(table_keys().size() == docs.size());
}

TEST_CASE("option table: --help, example.json and configs/README.md list exactly its keys",
          "[config]") {
  const KeySet keys = table_keys();
  REQUIRE_FALSE(keys.empty());
  CHECK(example_keys() == keys);
  CHECK(readme_keys() == keys);
}

TEST_CASE("option table: example.json holds every default", "[config]") {
  const std::string text =
      ftl::testing::read_file(ftl::testing::kSourceDir + "/configs/example.json");
  const json example = json::parse(text);
  for (const ftl::OptionDoc& doc : ftl::option_docs()) {
    // A required key, and data.val (required unless data.val_fraction is set), show a value.
    if (doc.default_value.empty() || doc.key == "data.val") continue;
    INFO(doc.key);
    CHECK(example.at(ftl::option_pointer(doc.key)) == json::parse(doc.default_value));
  }
}

TEST_CASE("option table: what a resumed run may change", "[config]") {
  CHECK(keys_on_resume(ftl::OnResume::kMayGrow) == KeySet{"train.epochs"});
  CHECK(keys_on_resume(ftl::OnResume::kMayChange) ==
        KeySet{"dist.backend", "dist.timeout_s", "train.feature_cache", "train.feature_cache_dir",
               "train.val_every"});
}

TEST_CASE("option table: the feature-cache key", "[config]") {
  CHECK(keys_in_feature_key(ftl::FeatureKey::kPreprocess) ==
        KeySet{"data.eval_resize", "data.exif_orientation", "data.image_size",
               "data.jpeg_dct_scaling", "data.resize"});
  CHECK(keys_in_feature_key(ftl::FeatureKey::kValue) ==
        KeySet{"train.memory_format", "train.precision"});

  // The bytes that earlier versions hashed for these settings, so that their cache files
  // still match (written out from the code before the option table held the key).
  ftl::Config config;
  CHECK(settings_text(config, "", "cpu") ==
        R"({"backbone":"","device":"cpu","memory_format":"channels_last","precision":"fp32",)"
        R"("preprocess":{"eval_resize":"center_crop","exif_orientation":true,"image_size":224,)"
        R"("jpeg_dct_scaling":true,"mean":[0.48500001430511475,0.4560000002384186,)"
        R"(0.4059999883174896],"resize":"bilinear-antialias","resize_shorter_side":256,)"
        R"("std":[0.2290000021457672,0.2240000069141388,0.22499999403953552]}})");
  for (const char* assignment :
       {"data.image_size=64", "data.resize=80", "data.exif_orientation=false",
        "data.jpeg_dct_scaling=false", "train.precision=bf16", "train.memory_format=contiguous"}) {
    ftl::apply_override(config, assignment);
  }
  CHECK(settings_text(config, "0123456789abcdef0123456789abcdef", "cuda:1") ==
        R"({"backbone":"0123456789abcdef0123456789abcdef","device":"cuda",)"
        R"("memory_format":"contiguous","precision":"bf16","preprocess":{"eval_resize":)"
        R"("center_crop","exif_orientation":false,"image_size":64,"jpeg_dct_scaling":false,)"
        R"("mean":[0.48500001430511475,0.4560000002384186,0.4059999883174896],"resize":)"
        R"("bilinear-antialias","resize_shorter_side":80,"std":[0.2290000021457672,)"
        R"(0.2240000069141388,0.22499999403953552]}})");

  // What the key leaves out: options that change what is learnt from the features, not them.
  ftl::Config other = config;
  ftl::apply_override(other, "optimizer.lr=0.5");
  ftl::apply_override(other, "train.feature_cache=disk");
  ftl::apply_override(other, "data.augment=true");
  CHECK(settings_text(other, "", "cpu") == settings_text(config, "", "cpu"));
  ftl::apply_override(other, "data.eval_resize=stretch");
  CHECK(settings_text(other, "", "cpu") != settings_text(config, "", "cpu"));
}
