// `ftl evaluate`: runs a checkpoint over an ImageFolder and reports its quality as JSON.
#pragma once

#include <spdlog/logger.h>
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/data/dataset.h"
#include "ftl/data/loader.h"
#include "ftl/eval/inference_options.h"
#include "ftl/eval/metrics.h"
#include "ftl/eval/mistakes.h"

namespace ftl {

/// The k of top-k accuracy unless asked otherwise.
inline constexpr std::int64_t kDefaultTopK = 5;

/// One image's answer.
struct Prediction {
  std::size_t index = 0;       // position in the sample list
  std::int64_t predicted = 0;  // class index with the highest logit
  double confidence = 0;       // its softmax probability
  double loss = 0;             // cross-entropy of the true class
};

/// Runs `model` as it is (call it in eval mode) over every image of `data`, without
/// gradients, and accumulates loss, accuracy, top-k, calibration and the confusion matrix, of
/// the TTA prediction when `tta` asks for one (class_scores).
/// Each image's prediction is appended to `predictions` when given, and each mistake offered to
/// `mistakes` with its input. With loader_options.skip_bad_images, the images left out are
/// appended to `bad` when given.
MetricsAccumulator evaluate_samples(torch::jit::Module& model, const ImageFolder& data,
                                    const LoaderOptions& loader_options,
                                    const torch::Device& device, std::int64_t top_k = kDefaultTopK,
                                    std::vector<Prediction>* predictions = nullptr,
                                    std::vector<BadImage>* bad = nullptr,
                                    MistakeCollector* mistakes = nullptr, Tta tta = Tta::kNone);

struct EvaluateOptions {
  std::filesystem::path checkpoint;       // a best.pt / last.pt written by ftl finetune
  std::filesystem::path data;             // ImageFolder root; folders matched to classes by name
  InferenceOptions inference;             // batch size, workers, threads, device
  std::int64_t top_k = kDefaultTopK;      // reported as top{K}_accuracy when there are >= K classes
  bool skip_bad_images = false;           // leave undecodable images out (listed in the report's
                                          // "skipped") instead of failing
  std::size_t gallery = kDefaultGallery;  // mistakes of the highest loss pictured (and examples
                                          // of the worst confusions); 0 = no pictures
};

struct Evaluation {
  nlohmann::ordered_json report;        // see evaluate_checkpoint
  std::vector<std::string> classes;     // the checkpoint's, in logit order
  std::vector<Sample> samples;          // the images, labelled with the checkpoint's indices
  std::vector<Prediction> predictions;  // one per sample, in sample order
  std::optional<Gallery> gallery;       // the pictured mistakes; none with options.gallery 0
};

/// Evaluates a checkpoint. The report: num_samples, loss, accuracy, top{K}_accuracy (with K
/// or more classes), macro and weighted {precision, recall, f1}, ece, calibration (its 15
/// bins: [{lower, upper, count, mean_confidence, accuracy}], null figures when empty),
/// per_class [{name, precision, recall, f1, support}], confusion_matrix (rows = true class).
Evaluation evaluate_checkpoint(const EvaluateOptions& options, spdlog::logger& log);

/// Turns accumulated metrics into the report above.
nlohmann::ordered_json metrics_report(const MetricsAccumulator& metrics,
                                      const std::vector<std::string>& classes,
                                      std::int64_t top_k = kDefaultTopK);

/// Quality gates for CI; a negative value is no gate.
struct QualityGates {
  double min_accuracy = -1;      // accuracy must be >= this
  double min_class_recall = -1;  // every class's recall must be >= this
  double max_loss = -1;          // loss must be <= this
};

/// The gates of QualityGates, one per field.
enum class Gate {
  kMinAccuracy,     // QualityGates::min_accuracy
  kMinClassRecall,  // QualityGates::min_class_recall
  kMaxLoss,         // QualityGates::max_loss
};

/// A gate the report misses: which one, the report's value and the gate's limit. A front end
/// words it (the CLI names the flag that set the limit).
struct GateFailure {
  Gate gate = Gate::kMinAccuracy;
  std::string class_name;  // the class whose recall is short (kMinClassRecall); else empty
  double value = 0;        // the report's accuracy, recall or loss
  double limit = 0;        // the gate's threshold
};

/// The gates the report misses, in QualityGates' order (recall: one per class short of it, in
/// the report's class order).
std::vector<GateFailure> failed_gates(const nlohmann::ordered_json& report,
                                      const QualityGates& gates);

}  // namespace ftl
