#include "ftl/eval/predict.h"

#include <spdlog/fmt/fmt.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <algorithm>
#include <optional>
#include <system_error>

#include "ftl/data/dataset.h"
#include "ftl/data/loader.h"
#include "ftl/image/image.h"
#include "ftl/util/csv.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

/// Why expand_inputs kept a folder as an entry: it holds nothing to classify.
constexpr const char* kEmptyFolderReason = "folder holds no .jpg, .jpeg or .png image";

// Why a folder given as input gave no image: it cannot be listed, or it holds none. Nothing
// for a path that is not a folder.
std::optional<std::string> folder_reason(const fs::path& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) return std::nullopt;
  try {
    find_images(path);
  } catch (const DataError& listing) {
    return image_error_reason(listing.what(), path);
  }
  return std::string(kEmptyFolderReason);
}

}  // namespace

std::vector<fs::path> expand_inputs(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> images;
  for (const fs::path& input : inputs) {
    std::error_code error;
    if (!fs::is_directory(input, error)) {
      images.push_back(input);
      continue;
    }
    std::vector<fs::path> found;
    try {
      found = find_images(input);
    } catch (const DataError&) {
      images.push_back(input);  // predict_images reports the folder it cannot list
      continue;
    }
    if (found.empty()) images.push_back(input);  // predict_images reports it
    images.insert(images.end(), found.begin(), found.end());
  }
  return images;
}

Predictor::Predictor(const PredictOptions& options, spdlog::logger& log)
    : options_(options),
      log_(log),
      device_(inference_device(options.inference)),
      checkpoint_(load_checkpoint(options.checkpoint, device_)),
      top_k_(std::min<std::int64_t>(
          options.top_k, static_cast<std::int64_t>(checkpoint_.metadata.classes.size()))) {
  if (options.top_k < 1)
    throw ConfigError("top_k must be >= 1, got " + std::to_string(options.top_k));
}

PredictSummary Predictor::run(const std::vector<fs::path>& images,
                              const std::function<void(const ImagePrediction&)>& emit) {
  const std::int64_t threads = configure_compute_threads(options_.inference.threads);
  const std::vector<std::string>& classes = checkpoint_.metadata.classes;
  const Precision precision = options_.inference.precision;
  log_.info("predicting {} images with {} (epoch {}), {} compute threads, {}, TTA {}",
            images.size(), options_.checkpoint.string(), checkpoint_.metadata.epoch, threads,
            to_string(precision), tta_name(options_.inference.tta));
  InferenceNetwork network =
      prepare_inference_network(checkpoint_, options_.inference, images.size(), log_);
  const InferenceAutocast autocast(network, device_);

  std::vector<Sample> samples;
  for (const fs::path& path : images) samples.push_back({path, 0});
  LoaderOptions loader_options;
  loader_options.batch_size = options_.inference.batch_size;
  loader_options.preprocess = checkpoint_.metadata.preprocess;
  loader_options.workers = resolve_loader_workers(options_.inference.workers);
  loader_options.skip_bad_images = true;
  BatchLoader loader(samples, identity_order(samples.size()), loader_options);

  torch::NoGradGuard no_grad;
  // The plain interpreter: the profiling executor's first call records shapes and optimises
  // the graph, 0.3 s here that a one-image answer waits for and a convolutional network on
  // a CPU does not win back (the time is in the kernels).
  torch::jit::GraphOptimizerEnabledGuard plain_interpreter(false);
  PredictSummary summary;
  Batch batch;
  while (loader.next(batch)) {
    // Batches come in input order, each covering the next images: good ones and bad ones.
    const std::size_t first = summary.images;
    std::vector<ImagePrediction> records(batch.indices.size() + batch.bad.size());
    if (!batch.indices.empty()) {
      const torch::Tensor probabilities =
          class_probabilities(network.module, batch.images.to(device_), options_.inference.tta);
      std::vector<std::vector<ClassScore>> top = top_classes(probabilities, top_k_, classes);
      for (std::size_t i = 0; i < batch.indices.size(); ++i) {
        ImagePrediction& record = records[batch.indices[i] - first];
        record.top = std::move(top[i]);
        record.tta = options_.inference.tta;
        record.precision = precision;
      }
    }
    for (const BadImage& bad : batch.bad) {
      records[bad.index - first].error =
          folder_reason(samples[bad.index].path).value_or(bad.reason);
    }
    for (std::size_t i = 0; i < records.size(); ++i) {
      records[i].path = samples[first + i].path.string();
      if (!records[i].error.empty()) {
        log_.warn("{}: {}", records[i].path, records[i].error);
        ++summary.failed;
      }
      emit(records[i]);
      ++summary.images;
    }
  }
  log_.info("predicted {} images, {} failed", summary.images, summary.failed);
  return summary;
}

nlohmann::ordered_json prediction_json(const ImagePrediction& prediction) {
  nlohmann::ordered_json record;
  record["path"] = prediction.path;
  if (!prediction.error.empty()) {
    record["error"] = prediction.error;
    return record;
  }
  record["top"] = nlohmann::ordered_json::array();
  for (const ClassScore& score : prediction.top) {
    record["top"].push_back(
        {{"class", score.name}, {"index", score.index}, {"probability", score.probability}});
  }
  if (prediction.tta != Tta::kNone) record["tta"] = tta_name(prediction.tta);
  if (prediction.precision != Precision::kFp32)
    record["precision"] = to_string(prediction.precision);
  return record;
}

std::string prediction_csv_header(std::int64_t k) {
  std::string header = "path";
  for (std::int64_t j = 1; j <= k; ++j) {
    header += fmt::format(",top{0}_class,top{0}_index,top{0}_probability", j);
  }
  return header + ",error\n";
}

std::string prediction_csv_row(const ImagePrediction& prediction, std::int64_t k) {
  std::string row = csv_field(prediction.path);
  for (std::int64_t j = 0; j < k; ++j) {
    const auto slot = static_cast<std::size_t>(j);
    if (slot < prediction.top.size()) {
      const ClassScore& score = prediction.top[slot];
      row += fmt::format(",{},{},{:.6g}", csv_field(score.name), score.index, score.probability);
    } else {
      row += ",,,";
    }
  }
  return row + "," + csv_field(prediction.error) + "\n";
}

}  // namespace ftl
