// ftl predict on a checkpoint of the ResNet-18 fixture: one record per image in input order,
// bad images reported without stopping the batch, and the compute threads of the executable.
#include "ftl/eval/predict.h"

#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "ftl/eval/evaluate.h"
#include "ftl/image/image.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/compute_mode.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"
#include "support/fixtures.h"
#include "support/samples.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::kSkipped;
using ftl::testing::shell_quote;

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
  CHECK_FALSE(ftl::prediction_json(
                  ftl::ImagePrediction{
                      "a.png", {{"cat", 0, 1.0}}, "", ftl::Tta::kNone, ftl::Precision::kFp32})
                  .contains("tta"));
}

namespace {

// 66 shapes at the fixture's size: kFreezeFromImages or more, so that predict and evaluate
// run the frozen network.
constexpr std::int64_t kFrozenPerClass = 22;

using ByPath = std::map<std::string, std::vector<ftl::ClassScore>>;

// The fp32 probabilities of `images` through ftl predict (by path), as `precision` gives them,
// with the log of the run in `log_text`.

ByPath predicted_by_path(const fs::path& checkpoint, const std::vector<fs::path>& images,
                         ftl::Precision precision, const fs::path& cpuinfo,
                         std::ostringstream& log_text) {
  ftl::PredictOptions options;
  options.checkpoint = checkpoint;
  options.top_k = 3;
  options.inference.batch_size = 8;
  options.inference.threads = 2;
  options.inference.precision = precision;
  options.inference.cpuinfo = cpuinfo;
  spdlog::logger log("test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));
  log.set_level(spdlog::level::debug);
  ftl::Predictor predictor(options, log);
  ByPath by_path;
  predictor.run(images, [&](const ftl::ImagePrediction& record) {
    REQUIRE(record.error.empty());
    CHECK(record.precision == precision);
    by_path[record.path] = record.top;
  });
  return by_path;
}

// predicted_by_path on the first 3 of `images`: too few for freezing to pay.
ByPath predicted_on_few(const fs::path& checkpoint, const std::vector<fs::path>& images,
                        ftl::Precision precision, std::ostringstream& log_text) {
  const std::vector<fs::path> few(images.begin(), images.begin() + 3);
  return predicted_by_path(checkpoint, few, precision, ftl::kCpuInfoPath, log_text);
}

// The largest difference of any class's probability between `reference` and `other`, over the
// images and classes of `other` that `reference` has too.
double largest_probability_difference(const ByPath& reference, const ByPath& other) {
  double largest = 0;
  for (const auto& [path, top] : other) {
    for (const ftl::ClassScore& score : top) {
      for (const ftl::ClassScore& known : reference.at(path)) {
        if (known.index == score.index) {
          largest = std::max(largest, std::abs(known.probability - score.probability));
        }
      }
    }
  }
  return largest;
}

}  // namespace

TEST_CASE("predict and evaluate: the frozen network answers as the loaded one within 1e-5",
          "[predict][inference]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_checkpoint(dir);
  ftl::testing::write_shapes(dir / "data", kFrozenPerClass, kPredictSide, /*seed=*/11);
  const std::vector<fs::path> images = ftl::expand_inputs({dir / "data"});
  REQUIRE(images.size() >= ftl::kFreezeFromImages);
  std::ostringstream log_text;
  const auto predicted =
      predicted_by_path(checkpoint, images, ftl::Precision::kFp32, ftl::kCpuInfoPath, log_text);
  CHECK_THAT(log_text.str(), Contains("network frozen for inference in fp32"));
  // Fewer images: the network as loaded, which freezing would not pay for.
  std::ostringstream few_log;
  const auto few_predicted = predicted_on_few(checkpoint, images, ftl::Precision::kFp32, few_log);
  CHECK_THAT(few_log.str(), Contains("network run as loaded: fewer than 64 images: freezing would "
                                     "cost more than it saves"));
  for (const auto& [path, top] : few_predicted) {
    CHECK(top[0].probability == Approx(predicted.at(path)[0].probability).margin(1e-5));
  }
  for (const auto& [path, top] : predicted) {
    const torch::Tensor loaded = direct_probabilities(checkpoint, path);
    for (const ftl::ClassScore& score : top) {
      CHECK(score.probability == Approx(loaded[score.index].item<double>()).margin(1e-5));
    }
  }
  ftl::ImagePrediction fp32_record;
  fp32_record.path = "a.png";
  fp32_record.top = {{"cat", 0, 1.0}};
  CHECK_FALSE(ftl::prediction_json(fp32_record).contains("precision"));

  ftl::EvaluateOptions evaluate;
  evaluate.checkpoint = checkpoint;
  evaluate.data = dir / "data";
  evaluate.inference.batch_size = 5;
  evaluate.inference.threads = 2;
  evaluate.gallery = 0;
  const ftl::Evaluation evaluation =
      ftl::evaluate_checkpoint(evaluate, ftl::testing::quiet_logger());
  CHECK(evaluation.report["precision"] == "fp32");
  REQUIRE(evaluation.predictions.size() == images.size());
  for (const ftl::Prediction& prediction : evaluation.predictions) {
    const torch::Tensor loaded =
        direct_probabilities(checkpoint, evaluation.samples[prediction.index].path);
    CHECK(prediction.predicted == loaded.argmax().item<std::int64_t>());
    CHECK(prediction.confidence == Approx(loaded.max().item<double>()).margin(1e-5));
  }
}

TEST_CASE("predict and evaluate: bf16 is refused on a CPU without AVX512-BF16 or AMX",
          "[predict][inference]") {
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_checkpoint(dir);
  std::ofstream(dir / "cpuinfo") << "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n";
  const std::string refusal =
      "precision \"bf16\": this processor has neither AVX512-BF16 nor AMX (no avx512_bf16 or "
      "amx_bf16 in " +
      (dir / "cpuinfo").string() + "), so bf16 would run slower than fp32; use \"fp32\"";
  ftl::PredictOptions predict;
  predict.checkpoint = checkpoint;
  predict.inference.precision = ftl::Precision::kBf16;
  predict.inference.cpuinfo = dir / "cpuinfo";
  CHECK_THROWS_AS(ftl::Predictor(predict, ftl::testing::quiet_logger()), ftl::ConfigError);
  CHECK_THROWS_WITH(ftl::Predictor(predict, ftl::testing::quiet_logger()), refusal);
  ftl::EvaluateOptions evaluate;
  evaluate.checkpoint = checkpoint;
  evaluate.data = dir / "no data";  // refused before the data is looked at
  evaluate.inference = predict.inference;
  CHECK_THROWS_WITH(ftl::evaluate_checkpoint(evaluate, ftl::testing::quiet_logger()), refusal);

  // The executable: exit 2 and the same line, from predict, evaluate and report --data, and
  // neither an evaluation nor a page written.
  ftl::testing::write_shapes(dir / "data", 1, kPredictSide, /*seed=*/3);
  ftl::testing::write_run(dir / "run");
  fs::copy_file(checkpoint, dir / "run/checkpoints/best.pt");
  const std::string cpuinfo = "FTL_CPUINFO=" + shell_quote((dir / "cpuinfo").string()) + " ";
  const std::string ck = shell_quote(checkpoint.string());
  const std::string data = shell_quote((dir / "data").string());
  for (const std::string& command :
       {"predict --checkpoint " + ck + " --precision bf16 " + data,
        "evaluate --checkpoint " + ck + " --precision bf16 --data " + data + " --output " +
            shell_quote((dir / "evaluation.json").string()),
        "report " + shell_quote((dir / "run").string()) + " --precision bf16 --data " + data}) {
    INFO(command);
    const ftl::testing::CommandResult result =
        ftl::testing::run_command(cpuinfo + ftl::testing::ftl_command(command));
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.output, Contains(refusal));
    CHECK_THAT(result.output, !Contains("\"top\""));
  }
  CHECK_FALSE(fs::exists(dir / "evaluation.json"));
  CHECK_FALSE(fs::exists(dir / "run/report.html"));
}

TEST_CASE("predict and evaluate: bf16 on ResNet-18 agrees with fp32 and says so",
          "[predict][inference]") {
  if (!ftl::cpu_has_bf16()) {
    std::cerr << "SKIPPED: this CPU has neither AVX512-BF16 nor AMX, so ftl refuses bf16 here "
                 "(the refusal has its own test)\n";
    std::exit(kSkipped);
  }
  ftl::testing::TempDir dir;
  const fs::path checkpoint = write_checkpoint(dir);
  ftl::testing::write_shapes(dir / "data", kFrozenPerClass, kPredictSide, /*seed=*/13);
  const std::vector<fs::path> images = ftl::expand_inputs({dir / "data"});
  std::ostringstream fp32_log;
  std::ostringstream bf16_log;
  const auto fp32 =
      predicted_by_path(checkpoint, images, ftl::Precision::kFp32, ftl::kCpuInfoPath, fp32_log);
  const auto bf16 =
      predicted_by_path(checkpoint, images, ftl::Precision::kBf16, ftl::kCpuInfoPath, bf16_log);
  CHECK_THAT(bf16_log.str(), Contains("network frozen for inference in bf16"));
  CHECK_THAT(bf16_log.str(), Contains(", bf16, TTA none"));
  for (const auto& [path, top] : fp32) {
    const double margin = top[0].probability - top[1].probability;
    // An image whose two best classes are closer than bf16's rounding may swap them.
    if (margin > 0.05) CHECK(bf16.at(path)[0].index == top[0].index);
  }
  const double largest = largest_probability_difference(fp32, bf16);
  CHECK(largest < 2e-2);
  CHECK(largest > 0);  // it did compute in bf16

  // Fewer than 64 images: the network as loaded, computing in bf16 by autocast all the same.
  std::ostringstream few_log;
  const auto few_bf16 = predicted_on_few(checkpoint, images, ftl::Precision::kBf16, few_log);
  CHECK_THAT(few_log.str(), Contains("network run as loaded under bf16 autocast: fewer than 64 "
                                     "images"));
  // fp32's networks differ by under 1e-5 (the frozen-network test): more is bf16's rounding.
  const double few_largest = largest_probability_difference(fp32, few_bf16);
  CHECK(few_largest > 1e-4);
  CHECK(few_largest < 2e-2);
  ftl::ImagePrediction record;
  record.path = "a.png";
  record.top = {{"cat", 0, 1.0}};
  record.precision = ftl::Precision::kBf16;
  CHECK(ftl::prediction_json(record)["precision"] == "bf16");

  ftl::EvaluateOptions evaluate;
  evaluate.checkpoint = checkpoint;
  evaluate.data = dir / "data";
  evaluate.inference.threads = 2;
  evaluate.inference.precision = ftl::Precision::kBf16;
  evaluate.gallery = 0;
  const ftl::Evaluation evaluation =
      ftl::evaluate_checkpoint(evaluate, ftl::testing::quiet_logger());
  CHECK(evaluation.report["precision"] == "bf16");
  for (const ftl::Prediction& prediction : evaluation.predictions) {
    const auto& top = bf16.at(evaluation.samples[prediction.index].path.string());
    CHECK(prediction.predicted == top[0].index);
    CHECK(prediction.confidence == Approx(top[0].probability).margin(1e-5));
  }
}
