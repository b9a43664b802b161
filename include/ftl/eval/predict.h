// `ftl predict`: classifies image files with a checkpoint. Every input gets one record, in
// input order: its most probable classes, or the reason it could not be read. One bad image
// never stops the others.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftl/eval/class_scores.h"
#include "ftl/eval/inference_options.h"
#include "ftl/model/checkpoint.h"

namespace ftl {

struct PredictOptions {
  std::filesystem::path checkpoint;  // a best.pt / last.pt written by ftl finetune
  std::int64_t top_k = 5;            // classes per record, most probable first (capped at the
                                     // number of classes)
  InferenceOptions inference;        // batch size, workers, threads, device
};

struct ImagePrediction {
  std::string path;             // as given, or as found below a given folder
  std::vector<ClassScore> top;  // most probable first; empty when error is set
  std::string error;            // why the image could not be classified; empty on success
  Tta tta = Tta::kNone;         // the test-time augmentation of `top`; named in the JSON when on
  Precision precision = Precision::kFp32;  // what the network computed `top` in; named in the
                                           // JSON when bf16
};

/// Turns the command line's PATHs into the images to classify: a folder becomes its image
/// files (recursively, sorted), anything else is taken as an image file as it is, so that a
/// missing or unreadable one gets its own error record. A folder with no image yields one
/// entry for the folder itself, which fails with that reason.
std::vector<std::filesystem::path> expand_inputs(const std::vector<std::filesystem::path>& inputs);

struct PredictSummary {
  std::size_t images = 0;  // records emitted
  std::size_t failed = 0;  // of which errors
};

/// A checkpoint ready to classify images.
class Predictor {
 public:
  /// Loads the checkpoint on the device; throws ModelError or ConfigError (bad checkpoint,
  /// device or option, bf16 on a CPU without it), the only failures that stop every image.
  Predictor(const PredictOptions& options, spdlog::logger& log);

  /// Classes per record: top_k capped at the number of classes.
  std::int64_t top_k() const { return top_k_; }

  /// Classifies `images` in batches with the checkpoint's preprocessing and calls `emit` once
  /// per image, in order, on the network prepare_inference_network chooses for their number.
  PredictSummary run(const std::vector<std::filesystem::path>& images,
                     const std::function<void(const ImagePrediction&)>& emit);

 private:
  PredictOptions options_;
  spdlog::logger& log_;
  torch::Device device_;
  Checkpoint checkpoint_;
  std::int64_t top_k_ = 0;
};

/// {"path": ..., "top": [{"class", "index", "probability"}, ...]} or {"path": ..., "error": ...}.
nlohmann::ordered_json prediction_json(const ImagePrediction& prediction);

/// `path,top1_class,top1_index,top1_probability,...,topK_probability,error`.
std::string prediction_csv_header(std::int64_t k);

/// One CSV row (with its line break) matching prediction_csv_header(k); an image that failed
/// leaves the class fields empty and fills `error`.
std::string prediction_csv_row(const ImagePrediction& prediction, std::int64_t k);

}  // namespace ftl
