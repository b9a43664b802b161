#include "ftl/evaluate.h"

#include "ftl/checkpoint.h"
#include "ftl/device.h"
#include "ftl/errors.h"
#include "ftl/runtime.h"

namespace ftl {
namespace {

/// The k of top-k accuracy, reported when the checkpoint has at least k classes.
constexpr std::int64_t kTopK = 5;

}  // namespace

MetricsAccumulator evaluate_samples(torch::jit::Module& model, const ImageFolder& data,
                                    const LoaderOptions& loader_options,
                                    const torch::Device& device) {
  torch::NoGradGuard no_grad;
  MetricsAccumulator metrics(static_cast<std::int64_t>(data.classes.size()), kTopK);
  BatchLoader loader(data.samples, identity_order(data.samples.size()), loader_options);
  Batch batch;
  while (loader.next(batch)) {
    const torch::Tensor logits = model.forward({batch.images.to(device)}).toTensor();
    metrics.add(logits, batch.labels);
  }
  return metrics;
}

nlohmann::ordered_json metrics_report(const MetricsAccumulator& metrics,
                                      const std::vector<std::string>& classes) {
  nlohmann::ordered_json report;
  report["num_samples"] = metrics.count();
  report["loss"] = metrics.mean_loss();
  report["accuracy"] = metrics.accuracy();
  if (static_cast<std::int64_t>(classes.size()) >= kTopK) {
    report["top5_accuracy"] = metrics.top_k_accuracy();
  }
  nlohmann::ordered_json per_class = nlohmann::ordered_json::array();
  const std::vector<ClassStats> stats = metrics.per_class();
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

nlohmann::ordered_json evaluate_checkpoint(const EvaluateOptions& options, spdlog::logger& log) {
  const torch::Device device = resolve_device(options.device, "device");
  const std::int64_t threads = configure_compute_threads(options.threads);
  Checkpoint checkpoint = load_checkpoint(options.checkpoint, device);
  ImageFolder data = scan_image_folder(options.data);
  relabel_to(data, checkpoint.metadata.classes);
  log.info("evaluating {} (epoch {}) on {} images, {} compute threads", options.checkpoint.string(),
           checkpoint.metadata.epoch, data.samples.size(), threads);

  LoaderOptions loader_options;
  loader_options.batch_size = options.batch_size;
  loader_options.preprocess = checkpoint.metadata.preprocess;
  loader_options.workers = resolve_workers(options.workers);
  const MetricsAccumulator metrics =
      evaluate_samples(checkpoint.module, data, loader_options, device);
  nlohmann::ordered_json report;
  report["checkpoint"] = options.checkpoint.string();
  report["data"] = options.data.string();
  report.update(metrics_report(metrics, checkpoint.metadata.classes));
  return report;
}

}  // namespace ftl
