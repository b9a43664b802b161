// The frozen-backbone feature cache without training: batches from cached features, its files,
// and the refusal of a network it cannot stand in for (runs: tests/e2e/feature_cache_test.cpp).
#include "ftl/train/feature_cache.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/data/dataset.h"
#include "ftl/util/errors.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {}  // namespace

TEST_CASE("feature cache: batches follow the order and leave bad images out", "[feature_cache]") {
  ftl::CachedFeatures cached;
  cached.features = torch::arange(10, torch::kFloat32).reshape({5, 2});
  cached.bad = {{2, "truncated PNG data"}};
  std::vector<ftl::Sample> samples(5);
  for (std::size_t i = 0; i < samples.size(); ++i) samples[i].label = static_cast<std::int64_t>(i);
  ftl::FeatureBatches batches(cached, samples, {4, 2, 0, 3, 1}, 2, torch::kCPU);
  ftl::Batch batch;
  REQUIRE(batches.next(batch));
  CHECK(batch.indices == std::vector<std::size_t>{4});  // 2 is bad
  CHECK(torch::equal(batch.images, torch::tensor({{8.0F, 9.0F}})));
  CHECK(batch.labels.item<std::int64_t>() == 4);
  REQUIRE(batches.next(batch));
  CHECK(batch.indices == std::vector<std::size_t>{0, 3});
  CHECK(torch::equal(batch.labels, torch::tensor({0, 3}, torch::kInt64)));
  REQUIRE(batches.next(batch));
  CHECK(batch.indices == std::vector<std::size_t>{1});
  CHECK_FALSE(batches.next(batch));
}

TEST_CASE("feature cache: files round-trip and refuse what is not theirs", "[feature_cache]") {
  ftl::testing::TempDir dir;
  ftl::CachedFeatures cached;
  cached.features = torch::randn({3, 4});
  cached.bad = {{1, "not a PNG file"}};
  const fs::path file = dir / "sub" / "k.features";
  ftl::write_feature_file(file, "k", cached);
  const ftl::CachedFeatures back = ftl::read_feature_file(file, "k", 3);
  CHECK(torch::equal(back.features, cached.features));
  REQUIRE(back.bad.size() == 1);
  CHECK(back.bad[0].index == 1);
  CHECK(back.bad[0].reason == "not a PNG file");

  REQUIRE_THROWS_WITH(ftl::read_feature_file(file, "other", 3),
                      file.string() + ": it holds another key");
  REQUIRE_THROWS_WITH(ftl::read_feature_file(file, "k", 4),
                      file.string() + ": it holds 3 rows, not 4");
  fs::resize_file(file, fs::file_size(file) - 1);
  REQUIRE_THROWS_AS(ftl::read_feature_file(file, "k", 3), ftl::DataError);
  REQUIRE_THROWS_WITH(ftl::read_feature_file(file, "k", 3),
                      file.string() +
                          ": feature cache is cut short or too long (expected 48 "
                          "bytes of features)");
  std::ofstream(dir / "junk.features") << "hello\n";
  REQUIRE_THROWS_WITH(ftl::read_feature_file(dir / "junk.features", "k", 3),
                      (dir / "junk.features").string() + ": not an ftl feature cache file");
  // A file cannot be written where a plain file stands in for the folder.
  std::ofstream(dir / "blocker") << "x";
  REQUIRE_THROWS_AS(ftl::write_feature_file(dir / "blocker" / "k.features", "k", cached),
                    ftl::IoError);
}

TEST_CASE("feature cache: features of the block's input, checked against the network",
          "[feature_cache]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 2, 16, 5);
  const ftl::ImageFolder data = ftl::scan_dataset((dir / "train").string());
  constexpr std::int64_t kSide = 8;
  constexpr std::int64_t kInputs = 3 * kSide * kSide;
  torch::jit::Module fc("Head");
  fc.register_parameter("weight", torch::randn({3, kInputs}), false);
  fc.register_parameter("bias", torch::ones({3}), false);
  fc.define("def forward(self, x):\n  return torch.matmul(x, self.weight.t()) + self.bias\n");
  // Each network gets its own type name: define() adds forward to the type.
  auto network = [&](const std::string& name, const std::string& output) {
    torch::jit::Module net(name);
    net.register_module("fc", fc.clone());
    net.define("def forward(self, x):\n  return " + output + "\n");
    net.eval();
    return net;
  };
  ftl::LoaderOptions options;
  options.batch_size = 4;
  options.preprocess.image_size = kSide;
  options.preprocess.eval_resize = ftl::EvalResize::kStretch;
  // fc last, as in ResNet: the features are fc's input.
  const torch::jit::Module plain = network("Plain", "self.fc.forward(x.flatten(1))");
  const ftl::Head head = ftl::find_head(plain, "auto", "plain");
  const ftl::CachedFeatures cached = ftl::extract_features(plain, ftl::NetworkSplit(plain, head),
                                                           head, data, options, torch::kCPU, {});
  CHECK(cached.features.sizes() == torch::IntArrayRef({6, kInputs}));
  // Random numbers that no module draws (so no training flag shows them): the features and the
  // network's own pass differ, and the check refuses what the cache would learn from.
  const torch::jit::Module noisy =
      network("Noisy", "self.fc.forward(torch.dropout(x.flatten(1), 0.5, True))");
  const ftl::Head noisy_head = ftl::find_head(noisy, "auto", "noisy");
  const ftl::NetworkSplit split(noisy, noisy_head);
  REQUIRE_THROWS_AS(ftl::extract_features(noisy, split, noisy_head, data, options, torch::kCPU, {}),
                    ftl::ModelError);
  REQUIRE_THROWS_WITH(
      ftl::extract_features(noisy, split, noisy_head, data, options, torch::kCPU, {}),
      Contains("the feature cache cannot stand in for this network: its output is not what its "
               "head's block fc makes of the block's input") &&
          Contains("set train.feature_cache \"off\""));
}

TEST_CASE("feature cache: with no image decoded, the rows are as wide as the block's input",
          "[feature_cache]") {
  ftl::testing::TempDir dir;
  for (const char* name : {"a/one.png", "a/two.png", "b/three.png"}) {
    fs::create_directories((dir / "train" / name).parent_path());
    std::ofstream(dir / "train" / name) << "not a PNG\n";
  }
  const ftl::ImageFolder data = ftl::scan_dataset((dir / "train").string());
  constexpr std::int64_t kSide = 4;
  constexpr std::int64_t kInputs = 3 * kSide * kSide;  // the block's input
  constexpr std::int64_t kHidden = 5;                  // the head's input
  // A Sequential by its class name, as torchvision's classifiers are: the head's block.
  torch::jit::Module classifier("__torch__.all_bad.Sequential");
  classifier.register_parameter("hidden", torch::randn({kHidden, kInputs}), false);
  torch::jit::Module fc("Head");
  fc.register_parameter("weight", torch::randn({2, kHidden}), false);
  fc.register_parameter("bias", torch::zeros({2}), false);
  fc.define("def forward(self, x):\n  return torch.matmul(x, self.weight.t()) + self.bias\n");
  classifier.register_module("fc", fc);
  classifier.define(
      "def forward(self, x):\n  return self.fc.forward(torch.matmul(x, self.hidden.t()))\n");
  torch::jit::Module net("Blocked");
  net.register_module("classifier", classifier);
  net.define("def forward(self, x):\n  return self.classifier.forward(x.flatten(1))\n");
  net.eval();
  const ftl::Head head = ftl::find_head(net, "classifier.fc", "blocked");
  REQUIRE(head.block == "classifier");
  REQUIRE(head.in_features == kHidden);
  ftl::LoaderOptions options;
  options.batch_size = 2;
  options.preprocess.image_size = kSide;
  options.skip_bad_images = true;
  const ftl::CachedFeatures cached = ftl::extract_features(net, ftl::NetworkSplit(net, head), head,
                                                           data, options, torch::kCPU, {});
  CHECK(cached.features.sizes() == torch::IntArrayRef({3, kInputs}));
  CHECK(cached.bad.size() == 3);
  CHECK(ftl::feature_shape(cached) == "48-d");
}
