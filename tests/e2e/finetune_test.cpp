// End to end: ftl finetune on a small generated dataset, then evaluate, Python and the CLI.
#include <spdlog/fmt/fmt.h>
#include <spdlog/sinks/ostream_sink.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "ftl/config/config.h"
#include "ftl/data/dataset.h"
#include "ftl/data/loader.h"
#include "ftl/eval/evaluate.h"
#include "ftl/eval/inspect.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/model.h"
#include "ftl/report/report.h"
#include "ftl/train/trainer.h"
#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/shapes.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

constexpr int kFinetuneSide = ftl::testing::kShapesInputSide;
constexpr int kTrainPerClass = 30;
constexpr int kValPerClass = 10;

// The fine-tuning run that the "[shapes_run]" cases check from every side: trained once per
// ctest run, by the "[shapes_run_setup]" case (CTest's shapes_run fixture, tests/CMakeLists.txt),
// into this folder: the images in train/ and val/, the run in run/.
const fs::path kShapesRunDir = FTL_TEST_SHAPES_RUN_DIR;

ftl::Config shapes_run_config() { return ftl::testing::shapes_config(kShapesRunDir, "run"); }

// The shared run as a case sees it: its config, what finetune returned (read back from
// summary.json), and a scratch folder of the case's own.
struct ShapesRun {
  ftl::testing::TempDir dir;
  ftl::Config config = shapes_run_config();
  ftl::FinetuneResult result;

  ShapesRun() {
    const fs::path run_dir = config.output.dir;
    const nlohmann::json summary = nlohmann::json::parse(std::ifstream(run_dir / "summary.json"));
    // best_val_acc is the best epoch's val_acc: the metric itself under the default ranking.
    REQUIRE(summary.at("best_metric") == "val_acc");
    result.run_dir = run_dir;
    result.best_checkpoint = summary.at("best_checkpoint").get<std::string>();
    result.best_epoch = summary.at("best_epoch").get<std::int64_t>();
    result.best_val_acc = summary.at("best_value").get<double>();
    result.epochs = summary.at("epochs").get<std::int64_t>();
  }
};

const ShapesRun& shapes_run() {
  static const ShapesRun run;
  return run;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every parameter and buffer (BatchNorm statistics) of a module by name.
std::map<std::string, torch::Tensor> tensors_by_name(const torch::jit::Module& module) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : module.named_parameters()) tensors[p.name] = p.value;
  for (const auto& b : module.named_buffers()) tensors[b.name] = b.value;
  return tensors;
}

// One epoch with a freeze policy on `per_class` images per class, in batches of that size.
ftl::Config one_frozen_epoch(const ftl::testing::TempDir& dir, const std::string& freeze,
                             int per_class, std::uint32_t seed) {
  ftl::testing::write_shapes_data(dir.path(), per_class, /*val_per_class=*/2, seed, kFinetuneSide);
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "run");
  config.model.freeze = ftl::FreezePolicy::parse(freeze);
  config.train.epochs = 1;
  config.data.batch_size = per_class;
  ftl::finetune(config, ftl::testing::quiet_logger());
  return config;
}

}  // namespace

// One fine-tuning run checked from every side, one test case per side: this one trains it and
// checks its folder; the "[shapes_run]" cases below read it.
TEST_CASE("finetune run: learns the shapes and writes the run folder", "[shapes_run_setup]") {
  fs::remove_all(kShapesRunDir);
  ftl::testing::write_shapes(kShapesRunDir / "train", kTrainPerClass, kFinetuneSide, 1);
  ftl::testing::write_shapes(kShapesRunDir / "val", kValPerClass, kFinetuneSide, 2);
  const ftl::Config config = shapes_run_config();
  const ftl::FinetuneResult result = ftl::finetune(config, ftl::testing::quiet_logger());
  const fs::path dir = config.output.dir;
  CHECK(result.epochs == 3);
  CHECK(result.best_val_acc >= 0.9);

  std::ifstream config_file(dir / "config.json");
  CHECK(nlohmann::json::parse(config_file) == ftl::config_to_json(config));

  const auto jsonl = read_lines(dir / "metrics.jsonl");
  REQUIRE(jsonl.size() == 3);
  for (std::size_t i = 0; i < jsonl.size(); ++i) {
    const auto line = nlohmann::json::parse(jsonl[i]);
    CHECK(line["epoch"] == i + 1);
    CHECK(line["lr"] == 0.01);
    CHECK(line["images_per_s"].get<double>() > 0);
    CHECK(line["val_acc"].get<double>() <= 1.0);
  }
  const auto csv = read_lines(dir / "metrics.csv");
  CHECK(csv.size() == 4);
  CHECK(fs::exists(dir / "checkpoints/last.pt"));
  CHECK(result.best_checkpoint == dir / "checkpoints/best.pt");

  const ftl::Checkpoint best = ftl::load_checkpoint(result.best_checkpoint, torch::kCPU);
  CHECK(best.metadata.classes == ftl::testing::kShapeClasses);
  CHECK(best.metadata.epoch == result.best_epoch);
  CHECK(best.metadata.metrics["val_acc"] == result.best_val_acc);
  CHECK(best.metadata.preprocess.image_size == kFinetuneSide);
  // The settings, without the run folder: a moved run still resumes.
  nlohmann::json recorded = ftl::config_to_json(config);
  recorded.erase("output");
  CHECK(best.metadata.config == recorded);
  CHECK(ftl::load_checkpoint(dir / "checkpoints/last.pt", torch::kCPU).metadata.epoch == 3);
}

TEST_CASE("finetune run: evaluate reproduces the validation accuracy of best.pt", "[shapes_run]") {
  const ShapesRun& run = shapes_run();
  ftl::EvaluateOptions options;
  options.checkpoint = run.result.best_checkpoint;
  options.data = run.config.data.val;
  options.inference.threads = 2;
  const auto report = ftl::evaluate_checkpoint(options, ftl::testing::quiet_logger()).report;
  CHECK(report["num_samples"] == 3 * kValPerClass);
  CHECK(report["accuracy"].get<double>() == Approx(run.result.best_val_acc).margin(1e-12));
  CHECK_FALSE(report.contains("top5_accuracy"));  // only 3 classes
  REQUIRE(report["per_class"].size() == 3);
  CHECK(report["per_class"][0]["name"] == "circle");
  CHECK(report["per_class"][0]["support"] == kValPerClass);
  std::int64_t total = 0;
  for (const auto& row : report["confusion_matrix"]) {
    for (const auto& cell : row) total += cell.get<std::int64_t>();
  }
  CHECK(total == 3 * kValPerClass);

  // The same images listed in a CSV manifest (paths relative to it) give the same report. It
  // is written in the case's own folder: the other cases read the shared images meanwhile.
  const fs::path manifest = run.dir / "val.csv";
  std::ofstream list(manifest);
  list << "path,label\n";
  for (const ftl::Sample& sample : ftl::scan_image_folder(run.config.data.val).samples) {
    list << sample.path.lexically_relative(run.dir.path()).string() << ","
         << sample.path.parent_path().filename().string() << "\n";
  }
  list.close();
  options.data = manifest;
  const auto listed = ftl::evaluate_checkpoint(options, ftl::testing::quiet_logger()).report;
  CHECK(listed["accuracy"] == report["accuracy"]);
  CHECK(listed["confusion_matrix"] == report["confusion_matrix"]);
}

TEST_CASE("finetune run: best.pt runs in Python's torch.jit.load with the same logits",
          "[shapes_run]") {
  const ShapesRun& run = shapes_run();
  const ftl::Checkpoint best = ftl::load_checkpoint(run.result.best_checkpoint, torch::kCPU);
  ftl::ImageFolder val = ftl::scan_image_folder(run.config.data.val);
  ftl::LoaderOptions options;
  options.batch_size = 12;
  options.preprocess = best.metadata.preprocess;
  ftl::BatchLoader loader(val.samples, ftl::epoch_order(val.samples.size(), 3, 1), options);
  ftl::Batch batch;
  REQUIRE(loader.next(batch));
  torch::jit::Module module = best.module;
  const torch::Tensor logits = module.forward({batch.images}).toTensor();

  const fs::path input = run.dir / "input.f32";
  std::ofstream(input, std::ios::binary)
      .write(static_cast<const char*>(batch.images.contiguous().data_ptr()),
             static_cast<std::streamsize>(batch.images.nbytes()));
  const fs::path output = run.dir / "python.json";
  const auto python = run_command(
      ftl::testing::kPython + " " + ftl::testing::kSourceDir + "/tests/python/jit_logits.py " +
      shell_quote(run.result.best_checkpoint.string()) + " " + shell_quote(input.string()) +
      " 12 " + std::to_string(kFinetuneSide) + " " + shell_quote(output.string()) + " 2>&1");
  INFO(python.output);
  REQUIRE(python.exit_code == 0);
  std::ifstream in(output);
  const auto seen = nlohmann::json::parse(in);
  CHECK(seen["out_features"] == 3);
  CHECK(seen["training"] == false);  // saved in eval mode: runs as it is
  CHECK(seen["classes"] == nlohmann::json(ftl::testing::kShapeClasses));
  const auto rows = seen["logits"].get<std::vector<std::vector<float>>>();
  REQUIRE(rows.size() == 12);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t c = 0; c < 3; ++c) {
      const float ours =
          logits[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(c)].item<float>();
      CHECK(std::abs(rows[i][c] - ours) <= 1e-4F);
    }
  }
}

TEST_CASE("finetune run: ftl inspect describes a checkpoint and its resume state", "[shapes_run]") {
  const ShapesRun& run = shapes_run();
  const auto inspected =
      run_command(shell_quote(ftl::testing::kFtlBinary) + " inspect --json " +
                  shell_quote((fs::path(run.config.output.dir) / "checkpoints/last.pt").string()));
  REQUIRE(inspected.exit_code == 0);
  const auto described = nlohmann::json::parse(inspected.output);
  CHECK(described["ftl_checkpoint"] == true);
  CHECK(described["classes"] == nlohmann::json(ftl::testing::kShapeClasses));
  CHECK(described["head"]["out_features"] == 3);
  CHECK(described["epoch"] == 3);
  CHECK(described["preprocess"]["image_size"] == kFinetuneSide);
  CHECK(described["resume"]["epochs_done"] == 3);
  CHECK(described["resume"]["stop_reason"] == "completed");
  CHECK(described["training"]["phase"] == "full");
  const auto missing =
      run_command(shell_quote(ftl::testing::kFtlBinary) + " inspect /nonexistent/best.pt 2>&1");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("/nonexistent/best.pt: no such file"));
}

TEST_CASE(
    "finetune run: ftl predict agrees with evaluate and reads stdin and exits 1 on a bad image",
    "[shapes_run]") {
  const ShapesRun& run = shapes_run();
  const std::string base = shell_quote(ftl::testing::kFtlBinary) + " -q predict --checkpoint " +
                           shell_quote(run.result.best_checkpoint.string()) + " --threads 2";
  const auto predicted = run_command(base + " " + shell_quote(run.config.data.val));
  REQUIRE(predicted.exit_code == 0);
  std::istringstream lines(predicted.output);
  std::string line;
  std::size_t count = 0;
  std::size_t correct = 0;
  fs::path good;  // a square the model gets right (which ones, float rounding may decide)
  while (std::getline(lines, line)) {
    const auto record = nlohmann::json::parse(line);
    const fs::path path = record["path"].get<std::string>();
    const std::string truth = path.parent_path().filename().string();
    ++count;
    if (record["top"][0]["class"] != truth) continue;
    ++correct;
    if (truth == "square") good = path;
  }
  REQUIRE_FALSE(good.empty());
  CHECK(count == 3 * kValPerClass);
  CHECK(static_cast<double>(correct) / static_cast<double>(count) ==
        Approx(run.result.best_val_acc).margin(1e-12));

  const fs::path bad = run.dir / "bad.png";
  std::ofstream(bad) << "not a png";
  const auto mixed =
      run_command("printf '%s\\n%s\\n' " + shell_quote(bad.string()) + " " +
                  shell_quote(good.string()) + " | " + base + " --format csv --top-k 2 -");
  CHECK(mixed.exit_code == 1);
  CHECK(mixed.output ==
        "path,top1_class,top1_index,top1_probability,top2_class,top2_index,top2_probability,"
        "error\n" +
            bad.string() + ",,,,,,,not a JPEG or PNG file\n" +
            mixed.output.substr(mixed.output.rfind(good.string())));
  CHECK_THAT(mixed.output, Contains(good.string() + ",square,1,"));

  // A file name that is not UTF-8 is classified; its bad byte prints as U+FFFD.
  const fs::path latin1 = run.dir / "caf\xe9.png";
  fs::copy_file(good, latin1);
  const auto odd = run_command(base + " " + shell_quote(latin1.string()));
  CHECK(odd.exit_code == 0);
  CHECK_THAT(odd.output, Contains("caf\xEF\xBF\xBD.png") && Contains("\"top\""));
}

TEST_CASE("finetune run: ftl report writes the run's page and evaluate --report the evaluation's",
          "[shapes_run]") {
  const ShapesRun& run = shapes_run();
  const fs::path dir = run.config.output.dir;
  const nlohmann::json data = nlohmann::json::parse(std::ifstream(dir / "data.json"));
  CHECK(data["train"]["images"] == 3 * kTrainPerClass);
  CHECK(data["val"]["classes"]["circle"] == kValPerClass);
  const fs::path page = run.dir / "run_report.html";
  const std::string ftl = shell_quote(ftl::testing::kFtlBinary);
  const auto reported =
      run_command(ftl + " -q report " + shell_quote(dir.string()) + " --threads 2 --output " +
                  shell_quote(page.string()) + " 2>&1");
  INFO(reported.output);
  REQUIRE(reported.exit_code == 0);
  const std::string html = ftl::testing::read_file(page);
  CHECK_THAT(html, Contains("Learning curves") && Contains("Confusion matrix") &&
                       Contains("<td>triangle</td>") && Contains("completed"));
  const double accuracy = run.result.best_val_acc;
  CHECK_THAT(html, Contains(fmt::format("<span>accuracy</span><b>{:.4f}</b>", accuracy)));

  const fs::path evaluation_page = run.dir / "evaluation.html";
  CHECK(run_command(ftl + " -q evaluate --checkpoint " +
                    shell_quote(run.result.best_checkpoint.string()) + " --data " +
                    shell_quote(run.config.data.val) + " --threads 2 --report " +
                    shell_quote(evaluation_page.string()) + " >/dev/null")
            .exit_code == 0);
  const std::string evaluation_html = ftl::testing::read_file(evaluation_page);
  CHECK_THAT(evaluation_html,
             Contains("ftl evaluation") && Contains("aria-label=\"confusion matrix\""));

  const auto not_a_run =
      run_command(ftl + " report " + shell_quote(run.dir.path().string()) + " 2>&1");
  CHECK(not_a_run.exit_code == 1);
  CHECK_THAT(not_a_run.output, Contains("not a run folder"));
}

TEST_CASE("finetune run: ftl evaluate prints JSON and its gate exits 3", "[shapes_run]") {
  const ShapesRun& run = shapes_run();
  // Mislabelled data: the "circle" folder holds squares, so accuracy drops to about 2/3.
  const fs::path data = run.dir / "mislabelled";
  for (const std::string& name : ftl::testing::kShapeClasses) {
    const std::string source = name == "circle" ? "square" : name;
    fs::create_directories(data / name);
    for (const auto& entry : fs::directory_iterator(fs::path(run.config.data.val) / source)) {
      fs::copy_file(entry.path(), data / name / entry.path().filename());
    }
  }
  const fs::path report_file = run.dir / "report.json";
  const std::string base = shell_quote(ftl::testing::kFtlBinary) + " evaluate --checkpoint " +
                           shell_quote(run.result.best_checkpoint.string()) + " --data " +
                           shell_quote(data.string()) + " --threads 2";
  const auto failed = run_command(base + " --min-accuracy 0.9 --output " +
                                  shell_quote(report_file.string()) + " 2>/dev/null");
  CHECK(failed.exit_code == 3);
  const auto report = nlohmann::json::parse(failed.output);
  CHECK(report["accuracy"].get<double>() < 0.9);
  std::ifstream written(report_file);
  CHECK(nlohmann::json::parse(written) == report);

  const auto gate_message = run_command(base + " --min-accuracy 0.9 2>&1 >/dev/null");
  CHECK_THAT(gate_message.output,
             Contains("quality gate failed: accuracy") && Contains("< --min-accuracy 0.9"));
  CHECK(run_command(base + " --min-accuracy 0.1 >/dev/null 2>&1").exit_code == 0);

  // Every gate exits 3 with a line naming it; the circles (really squares) have no recall.
  const auto recall_gate = run_command(base + " --min-class-recall 0.5 2>&1 >/dev/null");
  CHECK(recall_gate.exit_code == 3);
  CHECK_THAT(recall_gate.output, Contains("quality gate failed: recall of class circle"));
  const auto loss_gate = run_command(base + " --max-loss 0.000001 2>&1 >/dev/null");
  CHECK(loss_gate.exit_code == 3);
  CHECK_THAT(loss_gate.output,
             Contains("quality gate failed: loss") && Contains("> --max-loss 1e-06"));

  // A table for people, and the CSV files.
  const fs::path errors = run.dir / "errors.csv";
  const fs::path confusion = run.dir / "confusion.csv";
  const auto text =
      run_command(base + " --format text --top-k 2 --errors-csv " + shell_quote(errors.string()) +
                  " --confusion-csv " + shell_quote(confusion.string()) + " 2>/dev/null");
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.output,
             Contains("macro avg") && Contains("top2_accuracy") && Contains("worst confusions"));
  const auto error_rows = read_lines(errors);
  const auto wrong = static_cast<std::size_t>(
      std::lround((1.0 - report["accuracy"].get<double>()) * report["num_samples"].get<double>()));
  REQUIRE(error_rows.size() == wrong + 1);
  CHECK(error_rows[0] == "path,true_class,predicted_class,confidence,loss");
  CHECK_THAT(error_rows[1], Contains("/circle/") && Contains(",circle,"));
  const auto confusion_rows = read_lines(confusion);
  REQUIRE(confusion_rows.size() == 4);
  CHECK(confusion_rows[0] == "true_class,circle,square,triangle");
}

TEST_CASE("finetune: a folder that already holds a run is refused, untouched", "[e2e]") {
  ftl::testing::TempDir dir;
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "run");
  fs::create_directories(config.output.dir);
  const fs::path metrics = fs::path(config.output.dir) / "metrics.jsonl";
  std::ofstream(metrics) << "{\"epoch\": 1}\n";
  REQUIRE_THROWS_WITH(ftl::finetune(config, ftl::testing::quiet_logger()),
                      "output.dir " + config.output.dir + " already holds a run (metrics.jsonl)");
  std::ifstream in(metrics);
  std::string line;
  std::getline(in, line);
  CHECK(line == "{\"epoch\": 1}");
}

TEST_CASE("finetune: the same seed gives the same run, a trailing batch of one is skipped",
          "[e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 3, kFinetuneSide,
                             6);  // 9 images: batches of 4, 4 and 1
  ftl::testing::write_shapes(dir / "val", 2, kFinetuneSide, 7);
  auto run = [&](const std::string& name) {
    ftl::Config config = ftl::testing::shapes_config(dir.path(), name);
    config.data.batch_size = 4;
    config.train.epochs = 2;
    const auto result = ftl::finetune(config, ftl::testing::quiet_logger());
    std::vector<nlohmann::json> epochs;
    for (const std::string& line : read_lines(result.run_dir / "metrics.jsonl")) {
      auto epoch = nlohmann::json::parse(line);
      epoch.erase("seconds");  // wall-clock figures differ between runs
      epoch.erase("images_per_s");
      epochs.push_back(epoch);
    }
    const ftl::Checkpoint last =
        ftl::load_checkpoint(result.run_dir / "checkpoints/last.pt", torch::kCPU);
    return std::make_pair(epochs, last.module.attr("fc").toModule().attr("weight").toTensor());
  };
  const auto [first_metrics, first_fc] = run("first");
  const auto [second_metrics, second_fc] = run("second");
  REQUIRE(first_metrics.size() == 2);
  CHECK(first_metrics == second_metrics);
  CHECK(torch::equal(first_fc, second_fc));
}

TEST_CASE("finetune: augmentation with the memory cache is repeatable and recorded", "[e2e]") {
  ftl::testing::TempDir dir;
  constexpr int kPhotoSide = 48;  // larger than the input: the centre crop and random crops cut
  ftl::testing::write_shapes(dir / "train", 4, kPhotoSide, 8);
  ftl::testing::write_shapes(dir / "val", 2, kPhotoSide, 9);
  auto run = [&](const std::string& name, std::int64_t workers) {
    ftl::Config config = ftl::testing::shapes_config(dir.path(), name);
    config.data.augment.enabled = true;
    config.data.augment.color_jitter = 0.2;
    config.data.cache = ftl::DataCache::kMemory;
    config.data.batch_size = 4;
    config.data.workers = workers;
    config.train.epochs = 2;
    std::ostringstream log_text;
    spdlog::logger logger("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
    const auto result = ftl::finetune(config, logger);
    const ftl::Checkpoint last =
        ftl::load_checkpoint(result.run_dir / "checkpoints/last.pt", torch::kCPU);
    return std::make_pair(log_text.str(), last);
  };
  const auto [log_text, one_worker] = run("one_worker", 1);
  const auto [unused, two_workers] = run("two_workers", 2);
  // The same crops, flips and jitter whatever the number of workers: the same weights.
  CHECK(torch::equal(one_worker.module.attr("fc").toModule().attr("weight").toTensor(),
                     two_workers.module.attr("fc").toModule().attr("weight").toTensor()));
  CHECK_THAT(log_text, Contains("images: shorter side to 37, centre 32x32; training: "
                                "random-resized crop (scale 0.08-1, ratio 0.75-1.33), flip, "
                                "colour jitter 0.2"));
  CHECK_THAT(log_text, Contains("memory cache: 18 images"));  // 12 train + 6 val, decoded once
  const ftl::Preprocess& recorded = one_worker.metadata.preprocess;
  CHECK(recorded.eval_resize == ftl::EvalResize::kCenterCrop);
  CHECK(recorded.resize == 37);  // resolved from 0: what evaluation must repeat
  CHECK(recorded.exif_orientation);
}

TEST_CASE("finetune: a frozen backbone keeps every weight and BatchNorm statistic", "[e2e]") {
  ftl::testing::TempDir dir;
  const ftl::Config config = one_frozen_epoch(dir, "backbone", 8, 4);

  const ftl::LoadedModel original = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  const ftl::Checkpoint trained =
      ftl::load_checkpoint(fs::path(config.output.dir) / "checkpoints/last.pt", torch::kCPU);
  const std::map<std::string, torch::Tensor> before = tensors_by_name(original.module);
  std::size_t compared = 0;
  for (const auto& p : trained.module.named_parameters()) {
    if (ftl::under_path(p.name, "fc")) continue;
    INFO(p.name);
    CHECK(torch::equal(p.value, before.at(p.name)));
    ++compared;
  }
  for (const auto& b : trained.module.named_buffers()) {
    INFO(b.name);
    CHECK(torch::equal(b.value, before.at(b.name)));  // running_mean, running_var, counts
    ++compared;
  }
  CHECK(compared > 100);
  // The head did train: it differs from its seeded initialisation.
  ftl::LoadedModel fresh = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  ftl::replace_head(fresh.module, fresh.head, 3, static_cast<std::uint64_t>(config.train.seed));
  CHECK_FALSE(torch::equal(trained.module.attr("fc").toModule().attr("weight").toTensor(),
                           fresh.module.attr("fc").toModule().attr("weight").toTensor()));
  CHECK(trained.metadata.epoch == 1);
  // What inspect reports: only the head was saved as trainable.
  const auto described = ftl::inspect_file(fs::path(config.output.dir) / "checkpoints/last.pt");
  CHECK(described["parameters"]["trainable"] == 512 * 3 + 3);
  CHECK(described["parameters"]["frozen"].get<std::int64_t>() ==
        described["parameters"]["total"].get<std::int64_t>() - (512 * 3 + 3));
}

TEST_CASE("finetune: up_to:layer2 keeps conv1 .. layer2 and their statistics", "[e2e]") {
  ftl::testing::TempDir dir;
  const ftl::Config config = one_frozen_epoch(dir, "up_to:layer2", 4, 8);

  const ftl::LoadedModel original = ftl::load_model(ftl::testing::kResNet18, torch::kCPU);
  const ftl::Checkpoint trained =
      ftl::load_checkpoint(fs::path(config.output.dir) / "checkpoints/last.pt", torch::kCPU);
  const std::map<std::string, torch::Tensor> before = tensors_by_name(original.module);
  auto frozen = [](const std::string& name) {
    for (const char* prefix : {"conv1.", "bn1.", "layer1.", "layer2."}) {
      if (name.rfind(prefix, 0) == 0) return true;
    }
    return false;
  };
  std::size_t kept = 0;
  std::size_t moved = 0;
  auto compare = [&](const std::string& name, const torch::Tensor& value) {
    if (ftl::under_path(name, "fc")) return;
    INFO(name);
    if (frozen(name)) {
      CHECK(torch::equal(value, before.at(name)));
      ++kept;
    } else if (!torch::equal(value, before.at(name))) {
      ++moved;
    }
  };
  for (const auto& p : trained.module.named_parameters()) compare(p.name, p.value);
  for (const auto& b : trained.module.named_buffers()) compare(b.name, b.value);
  CHECK(kept > 50);
  CHECK(moved > 50);  // layer3 and layer4 trained, weights and BatchNorm statistics
  CHECK(trained.metadata.training["frozen_modules"] ==
        nlohmann::json({"bn1", "conv1", "layer1", "layer2", "maxpool", "relu"}));
}

TEST_CASE("finetune: data.on_bad_image skip trains on the rest and lists what it left out",
          "[e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 6, kFinetuneSide, 11);
  ftl::testing::write_shapes(dir / "val", 2, kFinetuneSide, 12);
  std::ofstream(dir / "train/circle/broken.png") << "not a png";
  const std::string truncated = (dir / "val/square/cut.png").string();
  fs::copy_file(dir / "train/square/0.png", truncated);
  fs::resize_file(truncated, 100);
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "run");
  config.train.epochs = 2;
  config.data.batch_size = 4;

  // The default stops at the first bad image, naming it.
  REQUIRE_THROWS_WITH(
      ftl::finetune(config, ftl::testing::quiet_logger()),
      Contains((dir / "train/circle/broken.png").string() + ": not a JPEG or PNG file"));
  fs::remove_all(config.output.dir);

  config.data.on_bad_image = ftl::BadImagePolicy::kSkip;
  const ftl::FinetuneResult result = ftl::finetune(config, ftl::testing::quiet_logger());
  CHECK(result.epochs == 2);
  const fs::path run = config.output.dir;
  const auto listed = read_lines(run / "bad_images.txt");
  REQUIRE(listed.size() == 2);  // each image once, although both epochs met them
  CHECK(listed[0] == (dir / "train/circle/broken.png").string() + "\tnot a JPEG or PNG file");
  CHECK_THAT(listed[1], Contains(truncated + "\t") && Contains("truncated PNG data"));
  const auto summary = nlohmann::json::parse(std::ifstream(run / "summary.json"));
  CHECK(summary["bad_images"] == 2);

  // The run's report evaluates its val folder as the run did: the bad image skipped, listed.
  ftl::ReportOptions report;
  report.run_dirs = {run};
  report.inference.threads = 2;
  ftl::write_report(report, ftl::testing::quiet_logger());
  CHECK(fs::exists(run / "report.html"));
  ftl::EvaluateOptions evaluate;
  evaluate.checkpoint = run / "checkpoints/best.pt";
  evaluate.data = dir / "val";
  evaluate.inference.threads = 2;
  CHECK_THROWS_WITH(ftl::evaluate_checkpoint(evaluate, ftl::testing::quiet_logger()),
                    Contains(truncated + ": truncated PNG data"));
  evaluate.skip_bad_images = true;
  const auto evaluated = ftl::evaluate_checkpoint(evaluate, ftl::testing::quiet_logger()).report;
  CHECK(evaluated["num_samples"] == 6);
  REQUIRE(evaluated["skipped"].size() == 1);
  CHECK(evaluated["skipped"][0]["path"] == truncated);
  // Validation scored the 6 good images, not the bad one: accuracy is a multiple of 1/6.
  const auto best = ftl::load_checkpoint(run / "checkpoints/best.pt", torch::kCPU);
  const double val_acc = best.metadata.metrics["val_acc"].get<double>();
  CHECK(std::abs(val_acc * 6 - std::round(val_acc * 6)) < 1e-9);
}

TEST_CASE("finetune: data.val_fraction validates on a held-out part, written as manifests",
          "[e2e]") {
  ftl::testing::TempDir dir;
  ftl::testing::write_shapes(dir / "train", 6, kFinetuneSide, 21);
  ftl::Config config = ftl::testing::shapes_config(dir.path(), "run");
  config.data.val.clear();
  config.data.val_fraction = 1.0 / 3;
  config.train.epochs = 1;
  config.data.batch_size = 4;
  ftl::finetune(config, ftl::testing::quiet_logger());
  const fs::path run = config.output.dir;
  const auto val = read_lines(run / "val_split.csv");
  CHECK(nlohmann::json::parse(std::ifstream(run / "data.json"))["val"]["path"] ==
        (run / "val_split.csv").string());
  const auto train = read_lines(run / "train_split.csv");
  CHECK(val.size() == 1 + 3 * 2);  // header, then 2 of each class's 6
  CHECK(train.size() == 1 + 3 * 4);
  CHECK(val[0] == "path,label");
  const auto data = nlohmann::json::parse(std::ifstream(run / "data.json"));
  CHECK(data["val"]["images"] == 6);
  CHECK(data["train"]["images"] == 12);

  // The report evaluates best.pt on the held-out manifest.
  ftl::ReportOptions options;
  options.run_dirs = {run};
  options.inference.threads = 2;
  ftl::write_report(options, ftl::testing::quiet_logger());
  const std::string html = ftl::testing::read_file(run / "report.html");
  CHECK_THAT(html, Contains((run / "val_split.csv").string()) && Contains("Per class"));

  // One image per class leaves nothing to hold out: an error naming the setting.
  ftl::testing::TempDir tiny;
  ftl::testing::write_shapes(tiny / "train", 1, kFinetuneSide, 22);
  ftl::Config single = ftl::testing::shapes_config(tiny.path(), "run");
  single.data.val.clear();
  single.data.val_fraction = 0.5;
  CHECK_THROWS_WITH(ftl::finetune(single, ftl::testing::quiet_logger()),
                    "data.val_fraction 0.5 holds out no image of " + (tiny / "train").string() +
                        ": every class has a single image; give data.val instead");
}
