#include "ftl/eval/evaluate.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include "ftl/model/checkpoint.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"

namespace ftl {
namespace {

// Mean precision, recall and F1 over classes, each class weighing 1 (macro) or its support.
nlohmann::ordered_json averaged(const std::vector<ClassStats>& stats, bool by_support) {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  double total = 0;
  for (const ClassStats& s : stats) {
    const double weight = by_support ? static_cast<double>(s.support) : 1.0;
    precision += weight * s.precision;
    recall += weight * s.recall;
    f1 += weight * s.f1;
    total += weight;
  }
  if (total == 0) total = 1;
  return {{"precision", precision / total}, {"recall", recall / total}, {"f1", f1 / total}};
}

// The bins of a reliability diagram; an empty bin has no confidence or accuracy (null).
nlohmann::ordered_json calibration_json(const std::vector<CalibrationBin>& bins) {
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  for (const CalibrationBin& bin : bins) {
    const bool empty = bin.count == 0;
    json.push_back(
        {{"lower", bin.lower},
         {"upper", bin.upper},
         {"count", bin.count},
         {"mean_confidence",
          empty ? nlohmann::ordered_json() : nlohmann::ordered_json(bin.mean_confidence)},
         {"accuracy", empty ? nlohmann::ordered_json() : nlohmann::ordered_json(bin.accuracy)}});
  }
  return json;
}

}  // namespace

MetricsAccumulator evaluate_samples(torch::jit::Module& model, const ImageFolder& data,
                                    const LoaderOptions& loader_options,
                                    const torch::Device& device, std::int64_t top_k,
                                    std::vector<Prediction>* predictions,
                                    std::vector<BadImage>* bad, MistakeCollector* mistakes,
                                    Tta tta) {
  torch::NoGradGuard no_grad;
  MetricsAccumulator metrics(static_cast<std::int64_t>(data.classes.size()), top_k);
  BatchLoader loader(data.samples, identity_order(data.samples.size()), loader_options);
  Batch batch;
  while (loader.next(batch)) {
    if (bad != nullptr) bad->insert(bad->end(), batch.bad.begin(), batch.bad.end());
    if (batch.indices.empty()) continue;  // every image of the batch was left out
    // Under bf16 autocast the network answers in bf16; the metrics are computed in fp32.
    const torch::Tensor logits = class_scores(model, batch.images.to(device), tta);
    metrics.add(logits, batch.labels);
    if (predictions == nullptr && mistakes == nullptr) continue;
    const auto [probability, predicted] = logits.softmax(/*dim=*/1).max(/*dim=*/1);
    const torch::Tensor labels = batch.labels.to(torch::kInt64).contiguous();  // on the CPU
    const torch::Tensor losses =
        -logits.log_softmax(/*dim=*/1).gather(1, labels.to(logits.device()).unsqueeze(1));
    const torch::Tensor p = probability.to(torch::kCPU, torch::kFloat64).contiguous();
    const torch::Tensor c = predicted.to(torch::kCPU, torch::kInt64).contiguous();
    const torch::Tensor l = losses.squeeze(1).to(torch::kCPU, torch::kFloat64).contiguous();
    for (std::size_t i = 0; i < batch.indices.size(); ++i) {
      const auto row = static_cast<std::int64_t>(i);
      const Prediction prediction{batch.indices[i], c.data_ptr<std::int64_t>()[row],
                                  p.data_ptr<double>()[row], l.data_ptr<double>()[row]};
      if (predictions != nullptr) predictions->push_back(prediction);
      const std::int64_t truth = labels.data_ptr<std::int64_t>()[row];
      if (mistakes != nullptr && prediction.predicted != truth) {
        mistakes->offer(
            {prediction.index, truth, prediction.predicted, prediction.confidence, prediction.loss},
            batch.images[row]);
      }
    }
  }
  return metrics;
}

nlohmann::ordered_json metrics_report(const MetricsAccumulator& metrics,
                                      const std::vector<std::string>& classes, std::int64_t top_k) {
  nlohmann::ordered_json report;
  report["num_samples"] = metrics.count();
  report["loss"] = metrics.mean_loss();
  report["accuracy"] = metrics.accuracy();
  if (top_k > 1 && static_cast<std::int64_t>(classes.size()) >= top_k) {
    report["top" + std::to_string(top_k) + "_accuracy"] = metrics.top_k_accuracy();
  }
  const std::vector<ClassStats> stats = metrics.per_class();
  report["macro"] = averaged(stats, /*by_support=*/false);
  report["weighted"] = averaged(stats, /*by_support=*/true);
  report["ece"] = metrics.expected_calibration_error();
  report["calibration"] = calibration_json(metrics.calibration());
  nlohmann::ordered_json per_class = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < classes.size(); ++i) {
    per_class.push_back({{"name", classes[i]},
                         {"precision", stats[i].precision},
                         {"recall", stats[i].recall},
                         {"f1", stats[i].f1},
                         {"support", stats[i].support}});
  }
  report["per_class"] = per_class;
  report["confusion_matrix"] = metrics.confusion();
  return report;
}

std::vector<GateFailure> failed_gates(const nlohmann::ordered_json& report,
                                      const QualityGates& gates) {
  std::vector<GateFailure> failed;
  const double accuracy = report.at("accuracy").get<double>();
  if (gates.min_accuracy >= 0 && accuracy < gates.min_accuracy) {
    failed.push_back({Gate::kMinAccuracy, "", accuracy, gates.min_accuracy});
  }
  if (gates.min_class_recall >= 0) {
    for (const auto& row : report.at("per_class")) {
      const double recall = row.at("recall").get<double>();
      if (recall < gates.min_class_recall) {
        failed.push_back({Gate::kMinClassRecall, row.at("name").get<std::string>(), recall,
                          gates.min_class_recall});
      }
    }
  }
  const double loss = report.at("loss").get<double>();
  if (gates.max_loss >= 0 && loss > gates.max_loss) {
    failed.push_back({Gate::kMaxLoss, "", loss, gates.max_loss});
  }
  return failed;
}

Evaluation evaluate_checkpoint(const EvaluateOptions& options, spdlog::logger& log) {
  const torch::Device device = inference_device(options.inference);
  const std::int64_t threads = configure_compute_threads(options.inference.threads);
  Checkpoint checkpoint = load_checkpoint(options.checkpoint, device);
  ImageFolder data = scan_dataset(options.data);
  relabel_to(data, checkpoint.metadata.classes);
  log.info("evaluating {} (epoch {}) on {} images, {} compute threads, {}, TTA {}",
           options.checkpoint.string(), checkpoint.metadata.epoch, data.samples.size(), threads,
           to_string(options.inference.precision), tta_name(options.inference.tta));
  const InferenceNetwork network =
      prepare_inference_network(checkpoint, options.inference, data.samples.size(), log);
  checkpoint.module = network.module;  // one copy of the weights in memory: the one that runs
  const InferenceAutocast autocast(network, device);
  // The plain interpreter, as ftl predict and serve run the frozen network: the profiling
  // executor would record and optimise again for the last, smaller batch, for no gain on a CPU.
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);

  LoaderOptions loader_options;
  loader_options.batch_size = options.inference.batch_size;
  loader_options.preprocess = checkpoint.metadata.preprocess;
  loader_options.workers = resolve_loader_workers(options.inference.workers);
  loader_options.skip_bad_images = options.skip_bad_images;
  Evaluation evaluation;
  std::vector<BadImage> bad;
  MistakeCollector mistakes(options.gallery, loader_options.preprocess);
  const MetricsAccumulator metrics =
      evaluate_samples(checkpoint.module, data, loader_options, device, options.top_k,
                       &evaluation.predictions, &bad, &mistakes, options.inference.tta);
  if (metrics.count() == 0) {
    throw DataError(options.data.string() + ": no image could be used (" +
                    std::to_string(bad.size()) + " bad)");
  }
  evaluation.report["checkpoint"] = options.checkpoint.string();
  evaluation.report["data"] = options.data.string();
  evaluation.report["tta"] = tta_name(options.inference.tta);
  evaluation.report["precision"] = to_string(options.inference.precision);
  evaluation.report.update(metrics_report(metrics, checkpoint.metadata.classes, options.top_k));
  if (!bad.empty()) {
    nlohmann::ordered_json skipped = nlohmann::ordered_json::array();
    for (const BadImage& image : bad) {
      const std::string path = data.samples[image.index].path.string();
      log.warn("skipping a bad image: {}: {}", path, image.reason);
      skipped.push_back({{"path", path}, {"reason", image.reason}});
    }
    evaluation.report["skipped"] = skipped;
  }
  evaluation.classes = checkpoint.metadata.classes;
  evaluation.samples = data.samples;
  if (options.gallery > 0) {
    evaluation.gallery =
        make_gallery(mistakes, evaluation.report, evaluation.classes, evaluation.samples);
    log.debug("gallery: {} of its thumbnails read again from the files (more than {} kept)",
              evaluation.gallery->read_again, kKeptThumbnails);
  }
  return evaluation;
}

}  // namespace ftl
