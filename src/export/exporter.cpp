#include "ftl/export/exporter.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include <chrono>
#include <functional>

#include "ftl/data/loader.h"
#include "ftl/eval/predict.h"
#include "ftl/export/export_network.h"
#include "ftl/export/onnx_tools.h"
#include "ftl/model/checkpoint.h"
#include "ftl/model/family.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "ftl/util/runtime.h"
#include "ftl/util/sha256.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

// --check-data's images go through both networks this many at a time (at 224 px, 150 MB of
// float32 inputs), each chunk one ONNX Runtime call.
constexpr std::int64_t kCheckChunk = 256;
// Images per forward pass within a chunk, where the batch axis is dynamic.
constexpr std::int64_t kCheckBatch = 16;

// Probabilities [N, classes] of the batches as some network answers them.
using Answers = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

ExportFormat resolve_format(const ExportOptions& options) {
  const std::optional<ExportFormat> named = format_of_extension(options.output);
  if (options.format && named && *options.format != *named) {
    throw ConfigError("format " + to_string(*options.format) + ": the output " +
                      options.output.string() + " is named as a " + to_string(*named) + " file");
  }
  if (options.format) return *options.format;
  if (named) return *named;
  throw ConfigError(options.output.string() +
                    ": the format cannot be told from the extension (.pt: TorchScript, .onnx: "
                    "ONNX); name the format");
}

void check_options(const ExportOptions& options, ExportFormat format) {
  if (format == ExportFormat::kOnnx && options.precision == Precision::kBf16) {
    throw ConfigError(
        "precision bf16: an ONNX export is fp32 only (torch 1.13 writes no bf16 graph that ONNX "
        "Runtime's CPU kernels run); export bf16 as TorchScript (.pt)");
  }
  if (format == ExportFormat::kTorchScript && options.batch > 0) {
    throw ConfigError("batch " + std::to_string(options.batch) +
                      ": a TorchScript export takes any batch; a fixed batch axis is an ONNX "
                      "setting");
  }
  if (options.batch < 0) throw ConfigError("batch must be >= 1 or dynamic");
  std::error_code error;
  if (fs::is_directory(options.output, error)) {
    throw ConfigError(options.output.string() + ": is a folder; name the file to write");
  }
  if (fs::exists(options.output, error) && !options.overwrite) {
    throw ConfigError(options.output.string() + ": already exists", Choice::kOverwriteOutput);
  }
  const fs::path folder =
      options.output.has_parent_path() ? options.output.parent_path() : fs::path(".");
  if (!fs::is_directory(folder, error)) {
    throw IoError(options.output.string() + ": cannot write: " + folder.string() +
                  (fs::exists(folder, error) ? " is not a folder" : ": no such folder"));
  }
  if (!options.check_data.empty() && !fs::exists(options.check_data, error)) {
    throw ConfigError("check data " + options.check_data.string() + ": no such file or folder");
  }
}

Answers network_answers(torch::jit::Module module) {
  return [module](const std::vector<torch::Tensor>& batches) mutable {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> answers;
    for (const torch::Tensor& batch : batches) {
      answers.push_back(torch::softmax(module.forward({batch}).toTensor().to(torch::kFloat32), 1));
    }
    return torch::cat(answers);
  };
}

// The export's metadata: the checkpoint's, and what the export is and came from.
CheckpointMetadata export_metadata(const Checkpoint& checkpoint, const ExportOptions& options,
                                   ExportFormat format, const std::string& sha256) {
  const Head head = checkpoint_head(checkpoint, options.checkpoint.string());
  const Family* family = find_family(checkpoint.module);
  CheckpointMetadata metadata = checkpoint.metadata;
  metadata.exported = {
      {"format", to_string(format)},
      {"precision", to_string(options.precision)},
      {"batch", options.batch > 0 ? nlohmann::json(options.batch) : nlohmann::json("dynamic")},
      {"family", family != nullptr ? nlohmann::json(family->name) : nlohmann::json(nullptr)},
      {"head", head.path},
      {"block", head.block},
      {"source_checkpoint", options.checkpoint.string()},
      {"source_sha256", sha256}};
  if (format == ExportFormat::kOnnx) metadata.exported["opset"] = kOnnxOpset;
  return metadata;
}

// Both networks' answers on --check-data's images, chunk by chunk.
ParityReport check_images(const ExportOptions& options, const CheckpointMetadata& metadata,
                          const Answers& reference, const Answers& exported,
                          const ParityBound& bound, std::int64_t& bad, spdlog::logger& log) {
  const std::vector<fs::path> paths = expand_inputs({options.check_data});
  std::vector<Sample> samples;
  for (const fs::path& path : paths) samples.push_back({path, 0});
  LoaderOptions loader_options;
  loader_options.batch_size = kCheckChunk;
  loader_options.preprocess = metadata.preprocess;
  loader_options.workers = resolve_loader_workers(0);
  loader_options.skip_bad_images = true;
  BatchLoader loader(samples, identity_order(samples.size()), loader_options);
  std::vector<torch::Tensor> expected;
  std::vector<torch::Tensor> answered;
  Batch batch;
  while (loader.next(batch)) {
    for (const BadImage& image : batch.bad) {
      log.warn("check data: {}: {} (left out)", samples[image.index].path.string(), image.reason);
      ++bad;
    }
    if (batch.indices.empty()) continue;
    const std::int64_t rows = batch.images.size(0);
    const bool fixed = options.batch > 0;
    const std::vector<torch::Tensor> pieces =
        split_batches(batch.images, fixed ? options.batch : kCheckBatch, fixed);
    expected.push_back(reference(split_batches(batch.images, kCheckBatch, false)));
    // A fixed batch axis fills the last batch with images from the start: their rows go.
    answered.push_back(exported(pieces).slice(0, 0, rows));
  }
  if (expected.empty()) {
    throw DataError("check data " + options.check_data.string() + ": no image could be read");
  }
  return compare_probabilities(torch::cat(expected), torch::cat(answered), bound);
}

void log_parity(spdlog::logger& log, const std::string& what, const ParityReport& report) {
  log.info(
      "parity on {}: {} images, largest probability difference {:.3g} (bound {:.0e}), top-1 "
      "agreement {:.4f}{}: {}",
      what, report.images, report.max_difference, report.bound.max_difference, report.agreement,
      report.bound.min_agreement > 0 ? fmt::format(" (at least {})", report.bound.min_agreement)
                                     : "",
      report.passed() ? "passed" : "FAILED");
}

}  // namespace

ExportResult export_model(const ExportOptions& options, spdlog::logger& log) {
  ExportResult result;
  result.format = resolve_format(options);
  check_options(options, result.format);
  result.output = options.output;
  result.precision = options.precision;
  result.batch = options.batch;
  const std::int64_t threads = configure_compute_threads(options.threads);
  const Checkpoint checkpoint = load_checkpoint(options.checkpoint, torch::kCPU);
  if (!checkpoint.metadata.exported.is_null()) {
    throw ModelError(options.checkpoint.string() +
                     ": already a network written by ftl export; export the checkpoint it came "
                     "from (" +
                     checkpoint.metadata.exported.value("source_checkpoint", "") + ")");
  }
  result.checkpoint_sha256 = sha256_file(options.checkpoint);
  result.checkpoint_bytes = fs::file_size(options.checkpoint);
  const CheckpointMetadata metadata =
      export_metadata(checkpoint, options, result.format, result.checkpoint_sha256);
  const std::int64_t side = metadata.preprocess.image_size;

  const auto start = std::chrono::steady_clock::now();
  const torch::jit::Module network = export_network(checkpoint.module, options.precision);
  const ScopedTemporary written(options.output);
  Answers exported;
  if (result.format == ExportFormat::kTorchScript) {
    write_checkpoint_file(network, metadata, {}, written.path(), options.output);
    torch::jit::Module loaded;
    try {
      loaded = torch::jit::load(written.path().string(), torch::kCPU);
    } catch (const c10::Error& error) {
      throw ModelError(options.output.string() +
                       ": the written file does not load back: " + error.what_without_backtrace());
    }
    exported = network_answers(loaded);
  } else {
    // torch.onnx.export runs on the frozen fp32 network, handed over as a TorchScript file.
    const ScopedTemporary frozen(options.output.parent_path() / "network.pt");
    write_checkpoint_file(network, metadata, {}, frozen.path(), options.output);
    write_onnx(options.tools, frozen.path(), written.path(), metadata_to_json(metadata).dump(2),
               options.batch, side);
    const fs::path onnx_file = written.path();
    const ExportTools tools = options.tools;
    const fs::path scratch = options.output.parent_path();
    exported = [tools, onnx_file, threads, scratch](const std::vector<torch::Tensor>& batches) {
      return torch::softmax(onnx_runtime_outputs(tools, onnx_file, batches, threads, scratch), 1);
    };
  }
  log.info("{}: {} {} network written in {:.1f}s; checking it against {}", options.output.string(),
           to_string(result.format), to_string(options.precision), seconds_since(start),
           options.checkpoint.string());

  const Answers reference = network_answers(checkpoint.module);
  const ParityBound bound = parity_bound(result.format, options.precision);
  const std::vector<torch::Tensor> generated = generated_batches(side, options.batch);
  result.generated = compare_probabilities(reference(generated), exported(generated), bound);
  log_parity(log, "generated inputs", result.generated);
  bool passed = result.generated.passed();
  if (!options.check_data.empty()) {
    result.check_data =
        check_images(options, metadata, reference, exported, bound, result.bad_check_images, log);
    log_parity(log, options.check_data.string(), result.check_data);
    passed = passed && result.check_data.passed();
  }
  if (!passed) return result;  // `written` removes the file on its way out
  commit_temporary(written.path(), options.output);
  result.written = true;
  result.bytes = fs::file_size(options.output);
  return result;
}

nlohmann::ordered_json to_json(const ExportResult& result) {
  auto parity = [](const ParityReport& report) {
    return nlohmann::ordered_json{{"images", report.images},
                                  {"max_probability_difference", report.max_difference},
                                  {"bound", report.bound.max_difference},
                                  {"top1_agreement", report.agreement},
                                  {"min_top1_agreement", report.bound.min_agreement},
                                  {"passed", report.passed()}};
  };
  nlohmann::ordered_json json = {{"output", result.output.string()},
                                 {"format", to_string(result.format)},
                                 {"precision", to_string(result.precision)},
                                 {"batch", result.batch > 0 ? nlohmann::ordered_json(result.batch)
                                                            : nlohmann::ordered_json("dynamic")},
                                 {"written", result.written},
                                 {"bytes", result.bytes},
                                 {"checkpoint_bytes", result.checkpoint_bytes},
                                 {"checkpoint_sha256", result.checkpoint_sha256},
                                 {"parity", {{"generated", parity(result.generated)}}}};
  if (result.check_data.images > 0) {
    json["parity"]["check_data"] = parity(result.check_data);
    json["parity"]["check_data"]["unreadable_images"] = result.bad_check_images;
  }
  return json;
}

}  // namespace ftl
