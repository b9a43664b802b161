// What `ftl export` is asked to make: a deployable model file from a checkpoint, TorchScript or
// ONNX, in fp32 or bf16, and where the tools it drives for ONNX are.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "ftl/config/choices.h"

namespace ftl {

enum class ExportFormat {
  kTorchScript,  // a frozen TorchScript network: LibTorch, torch.jit.load, ftl itself
  kOnnx,         // ONNX (opset kOnnxOpset): ONNX Runtime and the runtimes that read ONNX
};

/// The ONNX opset written: the newest that torch 1.13's exporter and Debian's onnx 1.12 share.
inline constexpr int kOnnxOpset = 17;

/// "torchscript" or "onnx".
std::string to_string(ExportFormat format);

/// The format a file name asks for: ".pt" TorchScript, ".onnx" ONNX; none for anything else.
std::optional<ExportFormat> format_of_extension(const std::filesystem::path& output);

/// Where ftl export finds the programs it runs for ONNX. The CLI fills them in (flags, then the
/// environment, then the build's defaults); the core only runs what it is given.
struct ExportTools {
  std::string python;              // a Python with torch and onnx (Debian's /usr/bin/python3)
  std::string node = "node";       // Node.js, for ONNX Runtime's parity check
  std::filesystem::path onnx_dir;  // scripts/onnx: export_onnx.py, run_onnx.js, node_modules
};

struct ExportOptions {
  std::filesystem::path checkpoint;        // --checkpoint: an ftl checkpoint (best.pt)
  std::filesystem::path output;            // --output: the file to write
  std::optional<ExportFormat> format;      // --format; none: from the output's extension
  Precision precision = Precision::kFp32;  // --precision: bf16 is TorchScript only (bf16 weights,
                                           // computing in bf16)
  std::int64_t batch = 0;                  // --batch N (ONNX: a fixed batch axis); 0: dynamic
  std::filesystem::path check_data;        // --check-data: images also checked for parity
  bool overwrite = false;                  // --overwrite: replace an existing output
  std::int64_t threads = 0;                // --threads; 0 = the cores available
  ExportTools tools;
};

}  // namespace ftl
