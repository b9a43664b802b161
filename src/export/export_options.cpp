#include "ftl/export/export_options.h"

namespace ftl {

std::string to_string(ExportFormat format) {
  switch (format) {
    case ExportFormat::kTorchScript:
      return "torchscript";
    case ExportFormat::kOnnx:
      return "onnx";
  }
  return "torchscript";  // not reached: every format is named above (-Wswitch)
}

std::optional<ExportFormat> format_of_extension(const std::filesystem::path& output) {
  const std::string extension = output.extension().string();
  if (extension == ".pt") return ExportFormat::kTorchScript;
  if (extension == ".onnx") return ExportFormat::kOnnx;
  return std::nullopt;
}

}  // namespace ftl
