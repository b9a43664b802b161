#include "ftl/export/onnx_tools.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "ftl/tool_paths.h"
#include "ftl/util/errors.h"
#include "ftl/util/files.h"
#include "ftl/util/subprocess.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

// The scripts' own exit statuses (scripts/onnx/export_onnx.py, run_onnx.js).
constexpr int kToolMissing = 3;
constexpr int kToolFailed = 4;
constexpr int kNotFound = 127;  // the shell's "command not found", from an interpreter too

constexpr const char* kExportScript = "export_onnx.py";
constexpr const char* kRunScript = "run_onnx.js";

fs::path tool_script(const ExportTools& tools, const char* name) {
  const fs::path script = tools.onnx_dir / name;
  std::error_code ignored;
  if (!fs::is_regular_file(script, ignored)) {
    throw ConfigError(script.string() +
                      ": no such file (the ONNX tools folder is set by FTL_ONNX_TOOLS; an "
                      "installed ftl's is share/ftl/onnx of its prefix, a built one's "
                      "scripts/onnx in its source tree)");
  }
  return script;
}

// The program could not be started at all: a missing interpreter.
void require_started(const ProcessResult& result, const std::string& program,
                     const std::string& install) {
  if (!result.started || result.exit_code == kNotFound) {
    throw ConfigError(program + " cannot be run (" + last_line(result.output) + "); " + install);
  }
}

void write_floats(const fs::path& file, const std::vector<torch::Tensor>& batches) {
  std::ofstream out(file, std::ios::binary);
  for (const torch::Tensor& batch : batches) {
    const torch::Tensor floats = batch.to(torch::kCPU, torch::kFloat32).contiguous();
    out.write(
        reinterpret_cast<const char*>(floats.data_ptr<float>()),
        static_cast<std::streamsize>(floats.numel()) * static_cast<std::streamsize>(sizeof(float)));
  }
  if (!out.flush()) throw IoError(file.string() + ": cannot write (disk full?)");
}

std::string shapes_argument(const std::vector<torch::Tensor>& batches) {
  std::string shapes;
  for (const torch::Tensor& batch : batches) {
    std::string shape;
    for (const std::int64_t size : batch.sizes()) {
      shape += (shape.empty() ? "" : ",") + std::to_string(size);
    }
    shapes += (shapes.empty() ? "" : ";") + shape;
  }
  return shapes;
}

torch::Tensor read_floats(const fs::path& file, std::int64_t rows) {
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto count = static_cast<std::int64_t>(bytes.size() / sizeof(float));
  if (rows == 0 || count == 0 || count % rows != 0 || bytes.size() % sizeof(float) != 0) {
    throw ModelError(file.string() + ": ONNX Runtime's answer holds " +
                     std::to_string(bytes.size()) + " bytes, not " + std::to_string(rows) +
                     " rows of float32 outputs");
  }
  torch::Tensor values = torch::empty({count}, torch::kFloat32);
  std::memcpy(values.data_ptr<float>(), bytes.data(), bytes.size());
  return values.reshape({rows, count / rows});
}

}  // namespace

fs::path default_onnx_tools(const fs::path& executable) {
  // No path to go by (no /proc): the build's, as before ftl could be installed.
  if (executable.empty()) return kBuildOnnxTools;
  std::error_code ignored;
  if (fs::equivalent(executable.parent_path(), kBuildBinaryDir, ignored)) return kBuildOnnxTools;
  return (executable.parent_path() / kInstalledOnnxTools).lexically_normal();
}

void write_onnx(const ExportTools& tools, const fs::path& torchscript_file,
                const fs::path& onnx_file, const std::string& metadata, std::int64_t batch,
                std::int64_t side) {
  const fs::path script = tool_script(tools, kExportScript);
  const ScopedTemporary metadata_file(onnx_file.parent_path() / "ftl.json");
  write_file_atomic(metadata_file.path(), metadata);
  // The script's arguments are positional: INPUT OUTPUT METADATA SIDE BATCH OPSET.
  const ProcessResult result =
      run_process({tools.python, script.string(), torchscript_file.string(), onnx_file.string(),
                   metadata_file.path().string(), std::to_string(side), std::to_string(batch),
                   std::to_string(kOnnxOpset)});
  const std::string install =
      "ONNX export needs a Python with torch and onnx (Debian: python3-torch python3-onnx, "
      "which scripts/setup.sh installs; FTL_PYTHON names another Python)";
  require_started(result, "Python " + tools.python, install);
  if (result.exit_code == kToolMissing) {
    throw ConfigError("Python " + tools.python + ": " + last_line(result.output) + "; " + install);
  }
  if (result.exit_code == kToolFailed) {
    throw ModelError("cannot export this network to ONNX: " + last_line(result.output));
  }
  if (result.exit_code != 0) {
    throw ModelError(script.string() + " failed (exit " + std::to_string(result.exit_code) +
                     "): " + last_line(result.output));
  }
}

torch::Tensor onnx_runtime_outputs(const ExportTools& tools, const fs::path& onnx_file,
                                   const std::vector<torch::Tensor>& batches, std::int64_t threads,
                                   const fs::path& scratch) {
  const fs::path script = tool_script(tools, kRunScript);
  const ScopedTemporary input(scratch / "inputs.bin");
  const ScopedTemporary output(scratch / "outputs.bin");
  write_floats(input.path(), batches);
  // The script's arguments are positional: MODEL INPUT SHAPES OUTPUT THREADS.
  const ProcessResult result =
      run_process({tools.node, script.string(), onnx_file.string(), input.path().string(),
                   shapes_argument(batches), output.path().string(), std::to_string(threads)});
  const std::string install =
      "the ONNX parity check runs ONNX Runtime in Node.js (onnxruntime-node, which "
      "scripts/setup.sh installs into scripts/onnx; an installed ftl has it in share/ftl/onnx)";
  require_started(result, "Node.js " + tools.node, install);
  if (result.exit_code == kToolMissing) {
    throw ConfigError(last_line(result.output) + "; " + install);
  }
  if (result.exit_code != 0) throw ModelError(last_line(result.output));
  std::int64_t rows = 0;
  for (const torch::Tensor& batch : batches) rows += batch.size(0);
  return read_floats(output.path(), rows);
}

}  // namespace ftl
