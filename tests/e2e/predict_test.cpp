// ftl predict on a checkpoint of the ResNet-18 fixture: one record per image in input order,
// bad images reported without stopping the batch, and the compute threads of the executable.
#include "ftl/eval/predict.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <map>

#include "ftl/eval/evaluate.h"
#include "ftl/image/image.h"
#include "ftl/model/checkpoint.h"
#include "ftl/util/runtime.h"
#include "support/fixtures.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

constexpr int kPredictSide = 24;

// An untrained 3-class checkpoint: predictions need not be right, only the same as the
// network's own forward pass.
fs::path write_checkpoint(const ftl::testing::TempDir& dir) {
  return ftl::testing::write_untrained_checkpoint(dir / "best.pt", kPredictSide, /*seed=*/1);
}

// Softmax probabilities of one image (or of its left-right mirror), computed directly.
torch::Tensor direct_probabilities(const fs::path& checkpoint, const fs::path& image,
                                   bool mirrored = false) {
  ftl::Checkpoint loaded = ftl::load_checkpoint(checkpoint, torch::kCPU);
  torch::Tensor input = torch::empty({1, 3, kPredictSide, kPredictSide});
  ftl::preprocess_into(ftl::read_image(image), loaded.metadata.preprocess, input[0]);
  if (mirrored) input = input.flip({3});
  torch::NoGradGuard no_grad;
  return loaded.module.forward({input}).toTensor().softmax(1)[0].to(torch::kFloat64);
}

}  // namespace

TEST_CASE("predict: one record per image in input order, bad images carry their reason",
          "[predict]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_checkpoint(dir);
  ftl::testing::write_shapes(dir / "data", /*per_class=*/2, kPredictSide, /*seed=*/5);
  std::ofstream(dir / "data/circle/corrupt.png") << "not an image";
  fs::create_directories(dir / "nothing");
  const std::vector<fs::path> images = ftl::expand_inputs(
      {dir / "data/circle", dir / "gone.png", dir / "nothing", dir / "data/square"});
  REQUIRE(images.size() == 7);  // 3 + missing + empty folder + 2

  for (const std::int64_t batch_size : {1, 2, 64}) {
    ftl::PredictOptions options;
    options.checkpoint = checkpoint;
    options.top_k = 5;  // more than the 3 classes: capped
    options.inference.batch_size = batch_size;
    options.inference.workers = 2;
    options.inference.threads = 2;
    ftl::Predictor predictor(options, ftl::testing::quiet_logger());
    CHECK(predictor.top_k() == 3);
    std::vector<ftl::ImagePrediction> records;
    const ftl::PredictSummary summary = predictor.run(
        images, [&](const ftl::ImagePrediction& record) { records.push_back(record); });
    INFO("batch size " << batch_size);
    CHECK(summary.images == 7);
    CHECK(summary.failed == 3);
    REQUIRE(records.size() == 7);
    for (std::size_t i = 0; i < images.size(); ++i) CHECK(records[i].path == images[i].string());
    CHECK(records[2].path == (dir / "data/circle/corrupt.png").string());
    CHECK(records[2].error == "not a JPEG or PNG file");
    CHECK_THAT(records[3].error, Contains("cannot open file"));
    CHECK(records[4].error == "folder holds no .jpg, .jpeg or .png image");

    const torch::Tensor expected = direct_probabilities(checkpoint, images[5]);
    const auto& top = records[5].top;
    REQUIRE(top.size() == 3);
    CHECK(top[0].probability >= top[1].probability);
    CHECK(top[1].probability >= top[2].probability);
    for (const ftl::ClassScore& score : top) {
      CHECK(score.name == ftl::testing::kShapeClasses[static_cast<std::size_t>(score.index)]);
      CHECK(score.probability == Approx(expected[score.index].item<double>()).margin(1e-6));
    }
  }
}

TEST_CASE("predict: compute threads follow OMP_NUM_THREADS unless --threads is given",
          "[predict][threads]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_checkpoint(dir);
  ftl::testing::write_shapes(dir / "data", /*per_class=*/1, kPredictSide, /*seed=*/6);
  const std::string predict = ftl::testing::shell_quote(ftl::testing::kFtlBinary) +
                              " predict --checkpoint " +
                              ftl::testing::shell_quote(checkpoint.string()) + " " +
                              ftl::testing::shell_quote((dir / "data").string());
  const auto from_env = ftl::testing::run_command("OMP_NUM_THREADS=1 " + predict + " 2>&1");
  INFO(from_env.output);
  CHECK(from_env.exit_code == 0);
  CHECK_THAT(from_env.output, Contains(", 1 compute threads"));
  const auto flag = ftl::testing::run_command("OMP_NUM_THREADS=1 " + predict + " --threads 2 2>&1");
  INFO(flag.output);
  CHECK_THAT(flag.output, Contains(", 2 compute threads"));
  // Not a positive whole number: the cores available, as without it.
  const auto junk = ftl::testing::run_command("OMP_NUM_THREADS=two " + predict + " 2>&1");
  INFO(junk.output);
  CHECK(junk.exit_code == 0);
  CHECK_THAT(junk.output,
             Contains(", " + std::to_string(ftl::available_cores()) + " compute threads"));
}

TEST_CASE("predict and evaluate: --tta flip averages each image with its mirror, alike in both",
          "[predict][tta]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_checkpoint(dir);
  ftl::testing::write_shapes(dir / "data", /*per_class=*/2, kPredictSide, /*seed=*/7);
  const std::vector<fs::path> images = ftl::expand_inputs({dir / "data"});
  REQUIRE(images.size() == 6);

  ftl::PredictOptions options;
  options.checkpoint = checkpoint;
  options.top_k = 3;
  options.inference.batch_size = 4;  // two passes: one of 4 images, one of 2
  options.inference.threads = 2;
  options.inference.tta = ftl::Tta::kFlip;
  ftl::Predictor predictor(options, ftl::testing::quiet_logger());
  std::map<std::string, ftl::ClassScore> predicted;  // top-1 by path
  bool any_changed = false;
  predictor.run(images, [&](const ftl::ImagePrediction& record) {
    REQUIRE(record.error.empty());
    CHECK(record.tta == ftl::Tta::kFlip);
    CHECK(ftl::prediction_json(record)["tta"] == "flip");
    const torch::Tensor plain = direct_probabilities(checkpoint, record.path);
    const torch::Tensor mean = (plain + direct_probabilities(checkpoint, record.path, true)) / 2;
    for (const ftl::ClassScore& score : record.top) {
      CHECK(score.probability == Approx(mean[score.index].item<double>()).margin(1e-6));
    }
    any_changed = any_changed || !torch::allclose(plain, mean, 0, 1e-4);
    predicted[record.path] = record.top[0];
  });
  CHECK(any_changed);  // the mirror changes this untrained network's answers

  ftl::EvaluateOptions evaluate;
  evaluate.checkpoint = checkpoint;
  evaluate.data = dir / "data";
  evaluate.inference = options.inference;
  evaluate.inference.batch_size = 5;  // other passes than predict's: the same answers
  evaluate.gallery = 0;
  const ftl::Evaluation evaluation =
      ftl::evaluate_checkpoint(evaluate, ftl::testing::quiet_logger());
  CHECK(evaluation.report["tta"] == "flip");
  REQUIRE(evaluation.predictions.size() == images.size());
  std::int64_t correct = 0;
  for (const ftl::Prediction& prediction : evaluation.predictions) {
    const ftl::Sample& sample = evaluation.samples[prediction.index];
    const ftl::ClassScore& top = predicted.at(sample.path.string());
    CHECK(prediction.predicted == top.index);
    CHECK(prediction.confidence == Approx(top.probability).margin(1e-6));
    correct += prediction.predicted == sample.label ? 1 : 0;
  }
  CHECK(evaluation.report["accuracy"].get<double>() ==
        Approx(static_cast<double>(correct) / static_cast<double>(images.size())));
  // Without TTA, the report says so and predict's records carry no "tta".
  evaluate.inference.tta = ftl::Tta::kNone;
  CHECK(ftl::evaluate_checkpoint(evaluate, ftl::testing::quiet_logger()).report["tta"] == "none");
  CHECK_FALSE(
      ftl::prediction_json(ftl::ImagePrediction{"a.png", {{"cat", 0, 1.0}}, "", ftl::Tta::kNone})
          .contains("tta"));
}
