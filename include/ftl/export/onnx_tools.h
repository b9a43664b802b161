// The two places where ftl runs other programs: torch.onnx.export in Python (LibTorch's C++
// API has no ONNX exporter) and ONNX Runtime in Node.js (onnxruntime-node, the CPU runtime that
// ships its library inside its npm package), each through a small script of scripts/onnx.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ftl/export/export_options.h"

namespace ftl {

/// The ONNX tools folder an ftl at `executable` uses unless told another: the source tree's
/// scripts/onnx (kBuildOnnxTools) for the binary in its build folder, else the one installed
/// beside it (kInstalledOnnxTools from its folder: share/ftl/onnx of its prefix), so that an
/// installed ftl never reaches back into a source tree. An empty `executable` (its path could
/// not be read) gets the build's.
std::filesystem::path default_onnx_tools(const std::filesystem::path& executable);

/// Writes `onnx_file` from the frozen TorchScript network in `torchscript_file` with
/// scripts/onnx/export_onnx.py under tools.python: opset kOnnxOpset, input "images"
/// [N, 3, side, side], output "logits", a dynamic batch axis unless batch > 0, `metadata`
/// (ftl.json's text) as metadata_props, checked by onnx.checker. Throws ConfigError naming
/// what to install when Python, torch or onnx is missing, and ModelError with the exporter's
/// reason (which names the operator) when the network cannot be exported.
void write_onnx(const ExportTools& tools, const std::filesystem::path& torchscript_file,
                const std::filesystem::path& onnx_file, const std::string& metadata,
                std::int64_t batch, std::int64_t side);

/// The first output of `onnx_file` run in ONNX Runtime (scripts/onnx/run_onnx.js under
/// tools.node, `threads` intra-op threads) on each batch, concatenated [N, classes]. The
/// batches travel through files in `scratch` (a folder), removed before it returns. Throws
/// ConfigError naming what to install when Node.js or onnxruntime-node is missing, and
/// ModelError with ONNX Runtime's reason when it refuses the file or a batch.
torch::Tensor onnx_runtime_outputs(const ExportTools& tools, const std::filesystem::path& onnx_file,
                                   const std::vector<torch::Tensor>& batches, std::int64_t threads,
                                   const std::filesystem::path& scratch);

}  // namespace ftl
