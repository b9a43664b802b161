// `ftl evaluate`: runs a checkpoint over an ImageFolder and reports its quality as JSON.
#pragma once

#include <spdlog/logger.h>
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/dataset.h"
#include "ftl/loader.h"
#include "ftl/metrics.h"

namespace ftl {

/// Runs `model` as it is (call it in eval mode) over every image of `data`, without
/// gradients, and accumulates loss, accuracy, top-5 and the confusion matrix.
MetricsAccumulator evaluate_samples(torch::jit::Module& model, const ImageFolder& data,
                                    const LoaderOptions& loader_options,
                                    const torch::Device& device);

struct EvaluateOptions {
  std::filesystem::path checkpoint;  // a best.pt / last.pt written by ftl finetune
  std::filesystem::path data;        // ImageFolder root; folders matched to classes by name
  std::int64_t batch_size = 64;      // images per forward pass
  std::int64_t workers = 0;          // decoding threads; 0 = number of cores
  std::int64_t threads = 0;          // compute threads; 0 = cores available to the process
  std::string device = "cpu";        // "cpu", "cuda" or "cuda:N"
};

/// The report: num_samples, loss, accuracy, top5_accuracy (with 5 or more classes),
/// per_class [{name, precision, recall, f1, support}], confusion_matrix (rows = true class).
nlohmann::ordered_json evaluate_checkpoint(const EvaluateOptions& options, spdlog::logger& log);

/// Turns accumulated metrics into the report above.
nlohmann::ordered_json metrics_report(const MetricsAccumulator& metrics,
                                      const std::vector<std::string>& classes);

}  // namespace ftl
