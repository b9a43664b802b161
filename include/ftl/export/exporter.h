// `ftl export`: a deployable model file from a checkpoint, TorchScript or ONNX, kept only once
// it answers as the checkpoint does.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/export/export_options.h"
#include "ftl/export/parity.h"

namespace ftl {

struct ExportResult {
  std::filesystem::path output;
  ExportFormat format = ExportFormat::kTorchScript;
  Precision precision = Precision::kFp32;
  std::int64_t batch = 0;               // 0: dynamic
  ParityReport generated;               // on the generated batches
  ParityReport check_data;              // on --check-data's images (images 0 when not given)
  std::int64_t bad_check_images = 0;    // of those, images that could not be read (skipped)
  bool written = false;                 // both checks passed and the file is in place
  std::uintmax_t bytes = 0;             // the written file's size
  std::uintmax_t checkpoint_bytes = 0;  // the checkpoint's, beside it
  std::string checkpoint_sha256;
};

/// Makes the file. Checks the options first (ConfigError: an unknown extension, a format that
/// contradicts it, bf16 for ONNX, a fixed batch for TorchScript, an output that exists without
/// overwrite), loads the checkpoint (ModelError: missing, damaged, already an export), writes
/// the file beside the output under a hidden name, runs it as its users will (LibTorch for
/// TorchScript, ONNX Runtime for ONNX) on the generated batches and check_data's images, and
/// renames it into place only when every probability is within parity_bound. When a bound is
/// broken nothing is left behind and the result says so (written false): the caller's exit 3.
ExportResult export_model(const ExportOptions& options, spdlog::logger& log);

/// The result as `ftl export` prints it on stdout.
nlohmann::ordered_json to_json(const ExportResult& result);

}  // namespace ftl
