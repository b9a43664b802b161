// End to end: every torchvision family ftl fine-tunes, in the files that
// tests/python/export_families.py exports as a user would (torch.jit.script, random weights).
// Each family's smallest member (or a tiny configuration of its class, for the transformers)
// trains on generated shapes; the big members are loaded, given a new head and run once.
#include <signal.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "ftl/config/config.h"
#include "ftl/data/dataset.h"
#include "ftl/data/loader.h"
#include "ftl/distributed/communicator.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/compute_mode.h"
#include "ftl/model/family.h"
#include "ftl/model/head.h"
#include "ftl/model/inference_network.h"
#include "ftl/model/model.h"
#include "ftl/model/train_state.h"
#include "ftl/train/optimizer.h"
#include "ftl/train/trainer.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/process.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

constexpr int kSide = 32;
// AlexNet's features take 63 px down to one pixel; 32 px would leave nothing.
constexpr int kAlexNetSide = 64;
constexpr int kFamilyTrainPerClass = 4;
constexpr int kFamilyValPerClass = 2;
constexpr std::int64_t kBatch = 4;
// The block trained on cached features against the block trained through the network.
constexpr float kCacheTolerance = 1e-5F;
// Python's logits against ftl's, from the same checkpoint and input, relative to the largest.
constexpr float kPythonTolerance = 1e-4F;
// The transformer members take 224 px only; the convolutional big members run at this.
constexpr int kBigSide = 64;
constexpr int kFixedSide = 224;

fs::path model_file(const std::string& name) { return ftl::testing::kFamiliesDir / (name + ".pt"); }

// What a family's file should show: its head, the head's input width, and its Dropout.
struct Expected {
  std::string model;
  std::string family;
  std::string head;
  std::int64_t in_features;
  std::string dropout;  // "" where the head has none
  std::string block;    // what trains with it under model.freeze "backbone"
  int side = kSide;
  bool bias = true;  // MaxVit's last Linear has none, and keeps none
};

// Shapes data in a temporary folder and the configs of the runs on it.
struct FamilyRun {
  ftl::testing::TempDir dir;
  Expected expected;

  explicit FamilyRun(Expected what) : expected(std::move(what)) {
    ftl::testing::write_shapes(dir / "train", kFamilyTrainPerClass, expected.side, 1);
    ftl::testing::write_shapes(dir / "val", kFamilyValPerClass, expected.side, 2);
  }
  ftl::Config config(const std::string& run, const std::string& freeze) const {
    ftl::Config config;
    config.model.path = model_file(expected.model).string();
    config.model.freeze = ftl::FreezePolicy::parse(freeze);
    config.data.train = (dir / "train").string();
    config.data.val = (dir / "val").string();
    config.data.preprocess.image_size = expected.side;
    config.data.preprocess.eval_resize = ftl::EvalResize::kStretch;
    config.data.batch_size = kBatch;
    config.data.workers = 1;
    config.optimizer.lr = 0.01;
    config.train.epochs = 1;
    config.train.threads = 2;
    config.train.deterministic = true;
    config.output.dir = (dir / run).string();
    return config;
  }
};

fs::path last_checkpoint(const ftl::Config& config) {
  return fs::path(config.output.dir) / "checkpoints" / "last.pt";
}

// Every parameter and buffer outside the head's block, by name.
std::map<std::string, torch::Tensor> backbone_tensors(const torch::jit::Module& network,
                                                      const ftl::Head& head) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& parameter : network.named_parameters(/*recurse=*/true)) {
    if (!head.in_block(parameter.name)) tensors[parameter.name] = parameter.value;
  }
  for (const auto& buffer : network.named_buffers(/*recurse=*/true)) {
    if (!head.in_block(buffer.name)) tensors[buffer.name] = buffer.value;
  }
  return tensors;
}

float max_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<float>();
}

std::string run_log(const ftl::Config& config) {
  std::ostringstream text;
  spdlog::logger log("family", std::make_shared<spdlog::sinks::ostream_sink_st>(text));
  ftl::finetune(config, log);
  return text.str();
}

std::vector<double> train_losses(const ftl::Config& config) {
  std::vector<double> losses;
  std::ifstream in(fs::path(config.output.dir) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    losses.push_back(nlohmann::json::parse(line).at("train_loss").get<double>());
  }
  return losses;
}

// The validation images as the checkpoint preprocesses them.
torch::Tensor val_batch(const ftl::Config& config, const ftl::Checkpoint& checkpoint) {
  const ftl::ImageFolder val = ftl::scan_image_folder(config.data.val);
  ftl::LoaderOptions options;
  options.batch_size = static_cast<std::int64_t>(val.samples.size());
  options.preprocess = checkpoint.metadata.preprocess;
  ftl::BatchLoader loader(val.samples, ftl::epoch_order(val.samples.size(), 0, 1), options);
  ftl::Batch batch;
  REQUIRE(loader.next(batch));
  return batch.images;
}

// torch.jit.load in Python on the checkpoint sees the new head and computes ftl's logits.
void check_python_view(const FamilyRun& run, const ftl::Config& config) {
  const fs::path checkpoint = last_checkpoint(config);
  const ftl::Checkpoint loaded = ftl::load_checkpoint(checkpoint, torch::kCPU);
  const torch::Tensor images = val_batch(config, loaded);
  torch::jit::Module module = loaded.module;
  // As many threads as the Python process (Debian's torch starts with one): with another count
  // oneDNN takes other kernels, and a random-weight network's logits of 1e3 and more differ
  // in the third digit (EfficientNet-B0 here: 2.6 in 1104 at 2 threads against 1).
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const torch::Tensor logits = module.forward({images}).toTensor();
  at::set_num_threads(threads);
  const fs::path input = run.dir / "input.f32";
  const torch::Tensor contiguous = images.contiguous();
  std::ofstream(input, std::ios::binary)
      .write(static_cast<const char*>(contiguous.data_ptr()),
             static_cast<std::streamsize>(contiguous.nbytes()));
  const fs::path output = run.dir / "python.json";
  const auto python =
      run_command(ftl::testing::kPython + " " + ftl::testing::kSourceDir +
                  "/tests/python/jit_logits.py " + shell_quote(checkpoint.string()) + " " +
                  shell_quote(input.string()) + " " + std::to_string(images.size(0)) + " " +
                  std::to_string(run.expected.side) + " " + shell_quote(output.string()) + " 2>&1");
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  const auto seen = nlohmann::json::parse(std::ifstream(output));
  CHECK(seen["head"] == run.expected.head);
  CHECK(seen["out_features"] == ftl::testing::kShapeClasses.size());
  CHECK(seen["training"] == false);
  const auto rows = seen["logits"].get<std::vector<std::vector<float>>>();
  REQUIRE(static_cast<std::int64_t>(rows.size()) == logits.size(0));
  // Relative to the largest logit: a random-weight network in eval mode can give logits of
  // 1e15 (its BatchNorm layers' running statistics are those of their init).
  const float scale = std::max(1.0F, logits.abs().max().item<float>());
  INFO("largest logit " << scale);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const torch::Tensor row = torch::tensor(rows[i]);
    CHECK(max_difference(row, logits[static_cast<std::int64_t>(i)]) <= kPythonTolerance * scale);
  }
}

// The whole check of one family: a frozen backbone through the network and on cached
// features, then the whole network, then Python's view of the result.
void check_family(const Expected& expected) {
  FamilyRun run(expected);
  const torch::jit::Module original = torch::jit::load(model_file(expected.model).string());
  const ftl::Head found = ftl::find_head(original, "auto", expected.model);
  CHECK(found.family == expected.family);
  CHECK(found.path == expected.head);
  CHECK(found.in_features == expected.in_features);
  CHECK(found.out_features == 1000);
  CHECK(found.dropout == expected.dropout);
  CHECK(found.bias == expected.bias);
  CHECK(found.block == expected.block);

  // A frozen backbone, the network run every step: only the head changes.
  ftl::Config through = run.config("through", "backbone");
  through.train.feature_cache = ftl::FeatureCacheMode::kOff;
  const std::string through_log = run_log(through);
  CHECK_THAT(through_log, Contains("model: " + through.model.path + ": " + expected.family +
                                   ", head " + expected.head));
  CHECK_THAT(through_log, Contains("model.freeze \"backbone\": all but " + expected.block +
                                   " is frozen; it trains whole, as in Python: "));
  const ftl::Checkpoint frozen = ftl::load_checkpoint(last_checkpoint(through), torch::kCPU);
  const ftl::Head trained = ftl::checkpoint_head(frozen, "last.pt");
  CHECK(trained.path == expected.head);
  CHECK(trained.out_features == 3);
  CHECK(trained.in_features == expected.in_features);
  CHECK(trained.bias == expected.bias);
  const torch::Tensor new_weight =
      ftl::submodule(frozen.module, expected.head).attr("weight").toTensor();
  if (found.kind == ftl::HeadKind::kConv) {  // SqueezeNet's: [classes, in, 1, 1]
    CHECK(new_weight.sizes() == torch::IntArrayRef({3, expected.in_features, 1, 1}));
  } else {
    CHECK(new_weight.sizes() == torch::IntArrayRef({3, expected.in_features}));
  }
  // Every tensor outside the head's block, BatchNorm statistics included, is bit-identical.
  const auto before = backbone_tensors(original, found);
  const auto after = backbone_tensors(frozen.module, trained);
  REQUIRE(before.size() == after.size());
  for (const auto& [name, tensor] : before) {
    INFO(name);
    REQUIRE(after.count(name) == 1);
    CHECK(torch::equal(tensor, after.at(name)));
  }

  // The same run on cached features (the block's input) trains the same block: the head, its
  // Dropout's masks, and the block's other layers (MobileNetV3's first Linear, ConvNeXt's
  // LayerNorm2d, VGG's Linears).
  const ftl::Config cached = run.config("cached", "backbone");
  const std::string cached_log = run_log(cached);
  CHECK_THAT(cached_log, Contains("feature cache: the backbone's"));
  CHECK_THAT(cached_log,
             Contains(expected.block == expected.head
                          ? "; the head trains on them"
                          : "; the head's block " + expected.block + " trains on them"));
  const ftl::Checkpoint from_cache = ftl::load_checkpoint(last_checkpoint(cached), torch::kCPU);
  const torch::jit::Module block_through = ftl::submodule(frozen.module, expected.block);
  const torch::jit::Module block_cached = ftl::submodule(from_cache.module, expected.block);
  std::map<std::string, torch::Tensor> through_block;
  for (const auto& parameter : block_through.named_parameters(/*recurse=*/true)) {
    through_block[parameter.name] = parameter.value;
  }
  std::size_t compared = 0;
  for (const auto& parameter : block_cached.named_parameters(/*recurse=*/true)) {
    INFO(expected.block << "." << parameter.name);
    REQUIRE(through_block.count(parameter.name) == 1);
    CHECK(max_difference(parameter.value, through_block.at(parameter.name)) <= kCacheTolerance);
    ++compared;
  }
  CHECK(compared == through_block.size());

  // The whole network trains, and Python computes the same logits from what ftl wrote.
  const ftl::Config full = run.config("full", "none");
  ftl::finetune(full, ftl::testing::quiet_logger());
  const std::vector<double> losses = train_losses(full);
  REQUIRE(losses.size() == 1);
  CHECK(std::isfinite(losses.front()));
  check_python_view(run, full);
}

}  // namespace

TEST_CASE("families: RegNet trains frozen, cached and whole, and loads in Python", "[families]") {
  check_family({"regnet_y_400mf", "RegNet", "fc", 440, "", "fc"});
}

TEST_CASE("families: ShuffleNetV2 trains frozen, cached and whole, and loads in Python",
          "[families]") {
  check_family({"shufflenet_v2_x0_5", "ShuffleNetV2", "fc", 1024, "", "fc"});
}

TEST_CASE("families: MobileNetV2 trains frozen, cached and whole, and loads in Python",
          "[families]") {
  check_family({"mobilenet_v2", "MobileNetV2", "classifier.1", 1280, "classifier.0", "classifier"});
}

TEST_CASE("families: MobileNetV3 trains frozen, cached and whole, and loads in Python",
          "[families]") {
  check_family(
      {"mobilenet_v3_small", "MobileNetV3", "classifier.3", 1024, "classifier.2", "classifier"});
}

TEST_CASE("families: EfficientNet trains frozen, cached and whole, and loads in Python",
          "[families]") {
  check_family(
      {"efficientnet_b0", "EfficientNet", "classifier.1", 1280, "classifier.0", "classifier"});
}

TEST_CASE("families: MNASNet trains frozen, cached and whole, and loads in Python", "[families]") {
  check_family({"mnasnet0_5", "MNASNet", "classifier.1", 1280, "classifier.0", "classifier"});
}

TEST_CASE("families: ConvNeXt trains frozen, cached and whole, and loads in Python", "[families]") {
  check_family({"convnext_tiny", "ConvNeXt", "classifier.2", 768, "", "classifier"});
}

TEST_CASE("families: DenseNet trains frozen, cached and whole, and loads in Python", "[families]") {
  check_family({"densenet121", "DenseNet", "classifier", 1024, "", "classifier"});
}

TEST_CASE("families: VGG trains frozen, cached and whole, and loads in Python", "[families]") {
  check_family({"vgg11", "VGG", "classifier.6", 4096, "classifier.5", "classifier"});
}

TEST_CASE("families: AlexNet trains frozen, cached and whole, and loads in Python", "[families]") {
  check_family({"alexnet", "AlexNet", "classifier.6", 4096, "", "classifier", kAlexNetSide});
}

TEST_CASE("families: SqueezeNet's 1x1 conv head trains frozen, cached and whole", "[families]") {
  check_family({"squeezenet1_1", "SqueezeNet", "classifier.1", 512, "classifier.0", "classifier"});
}

TEST_CASE("families: VisionTransformer trains frozen, cached and whole, and loads in Python",
          "[families]") {
  check_family({"vit_tiny", "VisionTransformer", "heads.head", 16, "", "heads"});
}

TEST_CASE("families: SwinTransformer trains frozen, cached and whole, and loads in Python",
          "[families]") {
  check_family({"swin_tiny", "SwinTransformer", "head", 32, "", "head"});
}

TEST_CASE("families: MaxVit trains frozen, cached and whole, and loads in Python", "[families]") {
  check_family({"maxvit_tiny", "MaxVit", "classifier.5", 16, "", "classifier", kSide,
                /*bias=*/false});
}

TEST_CASE("families: a family with a head Dropout resumes exactly and trains contiguous",
          "[families]") {
  FamilyRun run(
      {"mobilenet_v3_small", "MobileNetV3", "classifier.3", 1024, "classifier.2", "classifier"});
  ftl::Config whole = run.config("whole", "none");
  whole.train.epochs = 2;
  ftl::finetune(whole, ftl::testing::quiet_logger());
  ftl::Config parts = run.config("parts", "none");
  ftl::finetune(parts, ftl::testing::quiet_logger());
  parts.train.epochs = 2;
  ftl::finetune(parts, ftl::testing::quiet_logger(), {}, ftl::RunMode::kResume);
  CHECK(train_losses(parts) == train_losses(whole));
  const ftl::Checkpoint a = ftl::load_checkpoint(last_checkpoint(whole), torch::kCPU);
  const ftl::Checkpoint b = ftl::load_checkpoint(last_checkpoint(parts), torch::kCPU);
  const auto resumed = backbone_tensors(b.module, ftl::Head{});  // every tensor: no head left out
  for (const auto& [name, tensor] : backbone_tensors(a.module, ftl::Head{})) {
    INFO(name);
    CHECK(torch::equal(tensor, resumed.at(name)));
  }

  ftl::Config contiguous = run.config("contiguous", "none");
  contiguous.train.memory_format = ftl::MemoryFormat::kContiguous;
  ftl::finetune(contiguous, ftl::testing::quiet_logger());
  CHECK(std::isfinite(train_losses(contiguous).front()));
  if (!ftl::cpu_has_bf16()) {
    SUCCEED("this CPU has no bf16 instructions: the bf16 run is left to one that has");
    return;
  }
  ftl::Config bf16 = run.config("bf16", "none");
  bf16.train.precision = ftl::Precision::kBf16;
  ftl::finetune(bf16, ftl::testing::quiet_logger());
  CHECK(std::isfinite(train_losses(bf16).front()));
  // The features of a frozen backbone come from a bf16 pass too, and the block trains on them.
  ftl::Config bf16_cached = run.config("bf16_cached", "backbone");
  bf16_cached.train.precision = ftl::Precision::kBf16;
  CHECK_THAT(run_log(bf16_cached),
             Contains("feature cache: the backbone's 576-d features of 12 training and 6 "
                      "validation images ready in"));
  CHECK(std::isfinite(train_losses(bf16_cached).front()));
}

TEST_CASE("families: the head's whole block is the optimizer's head group", "[families]") {
  torch::jit::Module mobilenet = torch::jit::load(model_file("mobilenet_v3_small").string());
  const ftl::Head head = ftl::find_head(mobilenet, "auto", "mobilenet_v3_small.pt");
  ftl::Config config;
  config.optimizer.weight_decay = 1e-4;
  config.model.backbone_lr_mult = 0.1;
  const ftl::TrainingOptimizer optimizer(ftl::configure_trainable(mobilenet, {}), head, config);
  const auto& groups = optimizer.groups();
  REQUIRE(groups.size() == 4);
  CHECK(groups[0].name == "head");
  CHECK(groups[0].lr_mult == 1.0);
  CHECK(groups[0].parameters ==
        std::vector<std::string>{"classifier.0.weight", "classifier.3.weight"});
  CHECK(groups[1].name == "head_no_decay");
  CHECK(groups[1].parameters == std::vector<std::string>{"classifier.0.bias", "classifier.3.bias"});
  CHECK(groups[2].name == "backbone");
  CHECK(groups[2].lr_mult == 0.1);
  CHECK(groups[2].parameters.front() == "features.0.0.weight");
}

TEST_CASE("families: up_to freezes a dotted path and the containers' own tensors", "[families]") {
  const torch::jit::Module mobilenet = torch::jit::load(model_file("mobilenet_v3_small").string());
  const ftl::Head head = ftl::find_head(mobilenet, "auto", "mobilenet_v3_small.pt");
  std::set<std::string> expected;
  for (int block = 0; block <= 6; ++block) expected.insert("features." + std::to_string(block));
  CHECK(ftl::frozen_modules(mobilenet, head, ftl::FreezePolicy::parse("up_to:features.6")) ==
        expected);
  REQUIRE_THROWS_WITH(
      ftl::frozen_modules(mobilenet, head, ftl::FreezePolicy::parse("up_to:classifier.3")),
      "model.freeze \"up_to:classifier.3\": it would freeze the head "
      "classifier.3; name a module before it");

  const torch::jit::Module vit = torch::jit::load(model_file("vit_tiny").string());
  const ftl::Head vit_head = ftl::find_head(vit, "auto", "vit_tiny.pt");
  CHECK(ftl::frozen_modules(vit, vit_head,
                            ftl::FreezePolicy::parse("up_to:encoder.layers.encoder_layer_0")) ==
        std::set<std::string>{"class_token", "conv_proj", "encoder.pos_embedding",
                              "encoder.dropout", "encoder.layers.encoder_layer_0"});
  CHECK(ftl::frozen_modules(vit, vit_head, ftl::FreezePolicy::parse("backbone")) ==
        std::set<std::string>{"class_token", "conv_proj", "encoder"});
}

TEST_CASE("families: the big members load, take a new head and run at their input size",
          "[families]") {
  const std::vector<Expected> big = {
      {"resnet50", "ResNet", "fc", 2048, "", "fc", kBigSide},
      {"resnext50_32x4d", "ResNet", "fc", 2048, "", "fc", kBigSide},
      {"efficientnet_v2_s", "EfficientNet", "classifier.1", 1280, "classifier.0", "classifier",
       kBigSide},
      {"swin_t", "SwinTransformer", "head", 768, "", "head", kBigSide},
      {"vit_b_16", "VisionTransformer", "heads.head", 768, "", "heads", kFixedSide},
      {"maxvit_t", "MaxVit", "classifier.5", 512, "", "classifier", kFixedSide},
  };
  torch::NoGradGuard no_grad;
  for (const Expected& member : big) {
    INFO(member.model);
    ftl::LoadedModel loaded = ftl::load_model(model_file(member.model).string(), torch::kCPU);
    CHECK(loaded.head.family == member.family);
    CHECK(loaded.head.path == member.head);
    CHECK(loaded.head.in_features == member.in_features);
    CHECK(loaded.head.dropout == member.dropout);
    CHECK(loaded.head.block == member.block);
    const ftl::Family* family = ftl::find_family(loaded.module);
    REQUIRE(family != nullptr);
    CHECK(ftl::fixed_input_size(loaded.module, *family) ==
          (member.side == kFixedSide ? kFixedSide : 0));
    ftl::replace_head(loaded.module, loaded.head, 3, 0);
    loaded.module.eval();
    const torch::Tensor logits =
        loaded.module.forward({torch::rand({2, 3, member.side, member.side})}).toTensor();
    CHECK(logits.sizes() == torch::IntArrayRef({2, 3}));
  }
}

TEST_CASE(
    "families: a refused family exits 1, wrong heads and wrong or too small sizes exit 2, saying "
    "why",
    "[families]") {
  FamilyRun run({"vit_tiny", "VisionTransformer", "heads.head", 16, "", "heads"});
  const auto finetune = [&](ftl::Config config) {
    const fs::path path = ftl::testing::write_config(run.dir / "config.json", config);
    return run_command(
        ftl::testing::ftl_command("finetune --config " + shell_quote(path.string())));
  };

  ftl::Config googlenet = run.config("googlenet", "none");
  googlenet.model.path = model_file("googlenet").string();
  const auto refused = finetune(googlenet);
  CHECK(refused.exit_code == 1);  // a bad model, not a bad setting
  CHECK_THAT(refused.output,
             Contains("model.path " + googlenet.model.path +
                      ": ftl cannot fine-tune a GoogLeNet: its scripted forward returns "
                      "GoogLeNetOutputs (the logits and two auxiliary classifiers' logits), not "
                      "a tensor; the families it fine-tunes are " +
                      ftl::supported_families()));
  CHECK_THAT(ftl::supported_families(),
             Contains("ResNet (resnet18, ") && Contains("; MaxVit (maxvit_t)"));

  ftl::Config wrong_head = run.config("wrong_head", "none");
  wrong_head.model.head = "heads.classifier";
  const auto missing = finetune(wrong_head);
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output,
             Contains("model.head \"heads.classifier\": " + wrong_head.model.path +
                      "'s VisionTransformer has no module 'heads.classifier'; its Linear and 1x1 "
                      "Conv2d layers: encoder.layers.encoder_layer_0.self_attention.out_proj, "
                      "encoder.layers.encoder_layer_0.mlp.0, encoder.layers.encoder_layer_0.mlp.3, "
                      "encoder.layers.encoder_layer_1.self_attention.out_proj, "
                      "encoder.layers.encoder_layer_1.mlp.0, encoder.layers.encoder_layer_1.mlp.3, "
                      "heads.head"));

  ftl::Config not_a_head = run.config("not_a_head", "none");
  not_a_head.model.head = "conv_proj";
  const auto convolution = finetune(not_a_head);
  CHECK(convolution.exit_code == 2);
  CHECK_THAT(convolution.output,
             Contains("model.head \"conv_proj\": 'conv_proj' in " + not_a_head.model.path +
                      " is a Conv2d, not a Linear or 1x1 Conv2d layer"));

  ftl::Config wrong_size = run.config("wrong_size", "none");
  wrong_size.data.preprocess.image_size = 48;
  const auto size = finetune(wrong_size);
  CHECK(size.exit_code == 2);
  CHECK_THAT(size.output, Contains("data.image_size 48: model.path " + wrong_size.model.path +
                                   " is a VisionTransformer, which takes 32x32 inputs only; set "
                                   "data.image_size 32"));

  ftl::Config too_small = run.config("too_small", "none");
  too_small.model.path = model_file("alexnet").string();
  too_small.data.preprocess.image_size = 32;
  const auto small = finetune(too_small);
  CHECK(small.exit_code == 2);
  CHECK_THAT(small.output, Contains("data.image_size 32: model.path " + too_small.model.path +
                                    " fails on a 32x32 image: RuntimeError: Given input size: "
                                    "(256x1x1). Calculated output size: (256x0x0). Output size "
                                    "is too small"));
  for (const char* folder : {"googlenet", "wrong_head", "not_a_head", "wrong_size", "too_small"}) {
    CHECK_FALSE(fs::exists(run.dir / folder / "checkpoints"));
  }
}

TEST_CASE(
    "families: 2 ranks train ShuffleNetV2 as 1 process does, evaluate, predict, report and "
    "inspect read its checkpoint, and lr-find takes its file",
    "[families]") {
  // A head without Dropout: the ranks' masks would differ from one process's.
  FamilyRun run({"shufflenet_v2_x0_5", "ShuffleNetV2", "fc", 1024, "", "fc"});
  const auto parallel_config = [&](const std::string& name, std::int64_t batch) {
    ftl::Config config = run.config(name, "none");
    // Per-rank batch statistics would differ from the global batch's.
    config.model.batchnorm = ftl::BatchNormPolicy::kFrozen;
    config.data.batch_size = batch;
    config.train.threads = 1;
    config.dist.timeout_s = 60;
    return ftl::testing::write_config(run.dir / (name + ".json"), config);
  };
  const fs::path single = parallel_config("single", kBatch * 2);
  const auto alone =
      run_command(ftl::testing::ftl_command("finetune --config " + shell_quote(single.string())));
  INFO(alone.output);
  REQUIRE(alone.exit_code == 0);
  const fs::path checkpoint = run.dir / "single" / "checkpoints" / "last.pt";

  if (ftl::distributed_available()) {
    const fs::path pair = parallel_config("pair", kBatch);
    for (const pid_t rank :
         ftl::testing::spawn_two_ranks(run.dir.path(), {"finetune", "--config", pair.string()})) {
      INFO(ftl::testing::read_file(run.dir / "rank0.log"));
      REQUIRE(ftl::testing::wait_exit_code(rank) == 0);
    }
    const ftl::Checkpoint one = ftl::load_checkpoint(checkpoint, torch::kCPU);
    const ftl::Checkpoint two =
        ftl::load_checkpoint(run.dir / "pair" / "checkpoints" / "last.pt", torch::kCPU);
    const auto ranks = backbone_tensors(two.module, ftl::Head{});
    for (const auto& [name, tensor] : backbone_tensors(one.module, ftl::Head{})) {
      INFO(name);
      CHECK(max_difference(tensor, ranks.at(name)) <= kPythonTolerance);
    }
  }

  const std::string quoted = shell_quote(checkpoint.string());
  const fs::path evaluation = run.dir / "evaluation.json";
  const auto evaluated = run_command(ftl::testing::ftl_command(
      "evaluate --checkpoint " + quoted + " --data " + shell_quote((run.dir / "val").string()) +
      " --output " + shell_quote(evaluation.string())));
  INFO(evaluated.output);
  REQUIRE(evaluated.exit_code == 0);
  const auto report = nlohmann::json::parse(std::ifstream(evaluation));
  std::ifstream metrics(run.dir / "single" / "metrics.jsonl");
  std::string line;
  REQUIRE(std::getline(metrics, line));
  const auto epoch = nlohmann::json::parse(line);
  CHECK(report.at("accuracy").get<double>() == Approx(epoch.at("val_acc").get<double>()));
  CHECK(report.at("loss").get<double>() == Approx(epoch.at("val_loss").get<double>()).margin(1e-5));

  const auto predicted = run_command(ftl::testing::ftl_command(
      "predict --checkpoint " + quoted + " --top-k 1 " + shell_quote((run.dir / "val").string())));
  REQUIRE(predicted.exit_code == 0);
  std::istringstream records(predicted.output);
  int classified = 0;
  for (std::string record; std::getline(records, record);) {
    if (record.rfind('{', 0) != 0) continue;  // the log on stderr
    CHECK(nlohmann::json::parse(record).at("top").size() == 1);
    ++classified;
  }
  CHECK(classified == kFamilyValPerClass * static_cast<int>(ftl::testing::kShapeClasses.size()));

  const auto page = run_command(
      ftl::testing::ftl_command("report " + shell_quote((run.dir / "single").string())));
  CHECK(page.exit_code == 0);
  CHECK(fs::file_size(run.dir / "single" / "report.html") > 0);

  const auto inspected = run_command(shell_quote(ftl::testing::kFtlBinary) + " inspect --json " +
                                     quoted + " 2>/dev/null");
  REQUIRE(inspected.exit_code == 0);
  const auto described = nlohmann::json::parse(inspected.output);
  CHECK(described.at("family") == "ShuffleNetV2");
  CHECK(described.at("head").at("path") == "fc");
  CHECK(described.at("head").at("block") == "fc");
  CHECK(described.at("head").at("in_features") == 1024);
  CHECK(described.at("head").at("out_features") == 3);

  // lr-find takes the family's file as finetune does, and writes its curve.
  const fs::path prefix = run.dir / "lr";
  const auto ranged = run_command(
      ftl::testing::ftl_command("lr-find --config " + shell_quote(single.string()) +
                                " --steps 10 --output-prefix " + shell_quote(prefix.string())));
  INFO(ranged.output);
  REQUIRE(ranged.exit_code == 0);
  CHECK_THAT(ranged.output, Contains("ShuffleNetV2, head fc (Linear 1024 -> 3)"));
  CHECK(fs::file_size(prefix.string() + ".csv") > 0);
  CHECK(fs::file_size(prefix.string() + ".svg") > 0);
}

TEST_CASE("families: a head whose TorchScript class another layer shares is refused with exit 1",
          "[families]") {
  FamilyRun run({"shared_type", "", "fc", 16, "", "fc"});
  ftl::Config config = run.config("run", "none");
  const fs::path path = ftl::testing::write_config(run.dir / "config.json", config);
  const auto refused =
      run_command(ftl::testing::ftl_command("finetune --config " + shell_quote(path.string())));
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.output,
             Contains("the head fc shares its TorchScript class with proj (the same layer type "
                      "and sizes), so a new output width would change proj too; ftl changes no "
                      "module but the head: script the network with a head whose sizes no other "
                      "layer has, or name another head with model.head"));
  CHECK_FALSE(fs::exists(run.dir / "run" / "checkpoints"));
  // The file is left as it was: proj and fc still share one class of 16 outputs.
  const torch::jit::Module network = torch::jit::load(model_file("shared_type").string());
  CHECK(ftl::submodule(network, "fc").type() == ftl::submodule(network, "proj").type());
  CHECK(ftl::submodule(network, "proj").type()->getConstant("out_features").toInt() == 16);
}

TEST_CASE("families: a network of no family finds its head by the network's output width",
          "[families]") {
  const torch::jit::Module network = torch::jit::load(model_file("custom_logits").string());
  // `trunk.4` (Linear 8 -> 12) comes last in the module's order; the output is 10 wide.
  const ftl::Head head = ftl::find_head(network, "auto", "custom_logits.pt", kSide);
  CHECK(head.family.empty());
  CHECK(head.path == "logits");
  CHECK(head.in_features == 12);
  CHECK(head.block == "logits");
  CHECK(head.out_features == 10);
  REQUIRE_THROWS_MATCHES(
      ftl::find_head(network, "auto", "custom_logits.pt"), ftl::ModelError,
      Catch::Message("model.head \"auto\": custom_logits.pt's network (class CustomLogits) is of "
                     "no torchvision family, has no Linear fc, classifier, heads.head or head, "
                     "and no Linear or 1x1 Conv2d layer as wide as its output; name its head with "
                     "model.head; its Linear and 1x1 Conv2d layers: logits, trunk.4"));

  // Fine-tuned from the command line, and resumed from its checkpoint's recorded head.
  FamilyRun run({"custom_logits", "", "logits", 12, "", "logits"});
  ftl::Config config = run.config("run", "none");
  const fs::path path = ftl::testing::write_config(run.dir / "config.json", config);
  const auto trained =
      run_command(ftl::testing::ftl_command("finetune --config " + shell_quote(path.string())));
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  CHECK_THAT(trained.output, Contains("network of class CustomLogits, head logits (Linear 12 -> "
                                      "3), was 10 outputs"));
  const auto resumed = run_command(ftl::testing::ftl_command(
      "finetune --resume " + shell_quote(config.output.dir) + " --set train.epochs=2"));
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
}

namespace {

// A SIGKILL right after the first mid-epoch save, then a resume to the end: the same contents as
// the uninterrupted run's last.pt. With `layer_decay` below 1: AdamW, weight decay and a group
// per depth.
void check_kill_and_resume(const Expected& expected, double layer_decay = 1.0) {
  FamilyRun run(expected);
  ftl::Config config = run.config("run", "none");
  if (layer_decay < 1.0) {
    config.optimizer.type = ftl::OptimizerType::kAdamW;
    config.optimizer.weight_decay = 0.05;
    config.optimizer.layer_decay = layer_decay;
  }
  config.train.epochs = 2;
  config.data.batch_size = 2;  // 6 steps an epoch, each saved: the kill lands mid-run
  config.train.checkpoint_every_steps = 1;
  const fs::path path = ftl::testing::write_config(run.dir / "config.json", config);
  const fs::path reference = run.dir / "reference";
  const auto uninterrupted = run_command(
      ftl::testing::ftl_command("finetune --config " + shell_quote(path.string()) +
                                " --set output.dir=" + shell_quote(reference.string())));
  INFO(uninterrupted.output);
  REQUIRE(uninterrupted.exit_code == 0);

  const fs::path last = fs::path(config.output.dir) / "checkpoints" / "last.pt";
  const pid_t pid =
      ftl::testing::spawn_ftl({"finetune", "--config", path.string()}, run.dir / "killed.log");
  REQUIRE(ftl::testing::wait_for_new_file(pid, last) == -1);
  ::kill(pid, SIGKILL);
  REQUIRE(ftl::testing::wait_exit_code(pid) == 128 + SIGKILL);
  const auto finished =
      run_command(ftl::testing::ftl_command("finetune --resume " + shell_quote(config.output.dir)));
  INFO(finished.output);
  REQUIRE(finished.exit_code == 0);
  CHECK_THAT(finished.output, Contains("\"resumed\": true"));
  if (layer_decay < 1.0) {  // the start-up log lists the groups by depth
    CHECK_THAT(ftl::testing::read_file(run.dir / "killed.log"),
               Contains("layer_0 (depth 0, scale " +
                        fmt::format("{:.4g}", std::pow(layer_decay, 3)) + ", "));
  }
  // Every weight, statistic, optimizer tensor, the metadata and the resume state are the same
  // bytes. The file as a whole may differ only in TorchScript's .debug_pkl source-range entries
  // (ViT's attention code records the file it was last loaded from).
  const std::vector<std::string> entries = {ftl::kMetadataName, ftl::kTrainStateName,
                                            ftl::kTrainTensorsName};
  const ftl::Checkpoint resumed = ftl::load_checkpoint(last, torch::kCPU, entries);
  const ftl::Checkpoint straight =
      ftl::load_checkpoint(reference / "checkpoints" / "last.pt", torch::kCPU, entries);
  for (const std::string& entry : entries) {
    INFO(entry);
    CHECK(resumed.extra.at(entry) == straight.extra.at(entry));
  }
  const auto resumed_tensors = backbone_tensors(resumed.module, ftl::Head{});
  const auto straight_tensors = backbone_tensors(straight.module, ftl::Head{});
  REQUIRE(resumed_tensors.size() == straight_tensors.size());
  for (const auto& [name, tensor] : straight_tensors) {
    INFO(name);
    CHECK(torch::equal(tensor, resumed_tensors.at(name)));
  }
}

}  // namespace

TEST_CASE("families: MobileNetV3 (BatchNorm) killed mid-epoch resumes bit for bit", "[families]") {
  check_kill_and_resume(
      {"mobilenet_v3_small", "MobileNetV3", "classifier.3", 1024, "classifier.2", "classifier"});
}

TEST_CASE("families: a ViT (LayerNorm only) killed mid-epoch resumes bit for bit", "[families]") {
  check_kill_and_resume({"vit_tiny", "VisionTransformer", "heads.head", 16, "", "heads"});
}

TEST_CASE("families: a ViT validates in bf16 and caches bf16 features", "[families]") {
  if (!ftl::cpu_has_bf16()) {
    SUCCEED("this CPU has no bf16 instructions: the bf16 runs are left to one that has");
    return;
  }
  // Both run nn.MultiheadAttention in eval mode under autocast, where it takes its fast path.
  FamilyRun run({"vit_tiny", "VisionTransformer", "heads.head", 16, "", "heads"});
  ftl::Config whole = run.config("whole", "none");
  whole.train.precision = ftl::Precision::kBf16;
  ftl::finetune(whole, ftl::testing::quiet_logger());
  ftl::Config frozen = run.config("frozen", "backbone");
  frozen.train.precision = ftl::Precision::kBf16;
  CHECK_THAT(run_log(frozen), Contains("feature cache: the backbone's 16-d features"));
  for (const ftl::Config& config : {whole, frozen}) {
    std::ifstream in(fs::path(config.output.dir) / "metrics.jsonl");
    std::string line;
    REQUIRE(std::getline(in, line));
    const auto metrics = nlohmann::json::parse(line);
    CHECK(std::isfinite(metrics.at("train_loss").get<double>()));
    CHECK(std::isfinite(metrics.at("val_loss").get<double>()));
  }
}

TEST_CASE("families: a ViT with layer_decay and AdamW killed mid-epoch resumes bit for bit",
          "[families]") {
  check_kill_and_resume({"vit_tiny", "VisionTransformer", "heads.head", 16, "", "heads"}, 0.75);
}

TEST_CASE(
    "families: every family's inference network (ftl serve's) gives its logits, frozen "
    "where oneDNN takes its shapes",
    "[families]") {
  const std::vector<std::pair<std::string, int>> models = {
      {"regnet_y_400mf", kSide},     {"shufflenet_v2_x0_5", kSide}, {"mobilenet_v2", kSide},
      {"mobilenet_v3_small", kSide}, {"efficientnet_b0", kSide},    {"mnasnet0_5", kSide},
      {"convnext_tiny", kSide},      {"densenet121", kSide},        {"vgg11", kSide},
      {"alexnet", kAlexNetSide},     {"squeezenet1_1", kSide},      {"vit_tiny", kSide},
      {"swin_tiny", kSide},          {"maxvit_tiny", kSide},        {"custom_logits", kSide}};
  torch::NoGradGuard no_grad;
  for (const auto& [name, side] : models) {
    INFO(name);
    ftl::LoadedModel loaded = ftl::load_model(model_file(name).string(), torch::kCPU, "auto", side);
    ftl::replace_head(loaded.module, loaded.head, 3, 0);
    loaded.module.eval();  // as a checkpoint loads
    const torch::Tensor images = torch::rand({2, 3, side, side});
    const torch::Tensor logits = loaded.module.forward({images}).toTensor();
    ftl::InferenceNetwork network = ftl::inference_network(loaded.module, side);
    // VGG's and AlexNet's adaptive pooling grows a 1x1 map to 7x7 (6x6) at these sizes, which
    // oneDNN's layout refuses: they answer unfrozen, saying why.
    if (name == "vgg11" || name == "alexnet") {
      CHECK_THAT(network.not_frozen_reason,
                 Contains("the frozen network fails on a " + std::to_string(side) + "x" +
                          std::to_string(side) +
                          " image: RuntimeError: input size is not divisible by the output size is "
                          "not supported"));
    } else {
      CHECK(network.not_frozen_reason.empty());
    }
    const torch::Tensor frozen = network.module.forward({images}).toTensor();
    const float scale = std::max(1.0F, logits.abs().max().item<float>());
    CHECK(max_difference(frozen, logits) <= kPythonTolerance * scale);
  }
}
