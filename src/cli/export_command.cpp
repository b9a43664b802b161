// `ftl export --checkpoint CK --output FILE [--format torchscript|onnx] [--precision fp32|bf16]
//  [--batch N|dynamic] [--check-data DIR] [--overwrite] [--threads N]
//  [--python PATH] [--node PATH] [--onnx-tools DIR]`
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "ftl/export/exporter.h"
#include "ftl/export/onnx_tools.h"
#include "ftl/tool_paths.h"
#include "ftl/util/errors.h"
#include "ftl/util/runtime.h"

namespace ftl::cli {
namespace {

// A flag's value, else the environment variable's, else the build's default.
std::string first_set(const std::string& flag, const char* variable, const std::string& fallback) {
  if (!flag.empty()) return flag;
  const char* value = std::getenv(variable);
  return value != nullptr && value[0] != '\0' ? std::string(value) : fallback;
}

std::int64_t parse_batch(const std::string& text) {
  if (text == "dynamic") return 0;
  try {
    std::size_t used = 0;
    const long long batch = std::stoll(text, &used);
    if (used == text.size() && batch >= 1) return batch;
  } catch (const std::exception&) {  // not a number, or out of range: the message below
  }
  throw ConfigError("--batch " + text + ": expected a number >= 1 or \"dynamic\"");
}

}  // namespace

CLI::App* setup_export(CLI::App& app, ExportCliOptions& options) {
  ExportOptions& core = options.core;
  CLI::App* command = app.add_subcommand(
      "export",
      "Write a checkpoint as a deployable TorchScript or ONNX file, checked against the "
      "checkpoint's own probabilities (exit 3 when they differ beyond the bound)");
  command->add_option("--checkpoint", core.checkpoint, "Checkpoint written by ftl finetune")
      ->required();
  command->add_option("--output", core.output, "The file to write (.pt TorchScript, .onnx ONNX)")
      ->required();
  add_choice<std::optional<ExportFormat>, ExportFormat>(
      *command, "--format", core.format,
      {{"torchscript", ExportFormat::kTorchScript}, {"onnx", ExportFormat::kOnnx}},
      "from --output's extension", "torchscript or onnx");
  add_choice(*command, "--precision", core.precision,
             {{"fp32", Precision::kFp32}, {"bf16", Precision::kBf16}}, to_string(core.precision),
             "fp32, or bf16 (TorchScript only: bf16 weights, computing in bf16)");
  command
      ->add_option("--batch", options.batch,
                   "ONNX: a fixed batch N, or dynamic (the batch axis takes any size)")
      ->capture_default_str();
  command->add_option("--check-data", core.check_data,
                      "Also check parity on these images (a folder, searched recursively)");
  command->add_flag("--overwrite", core.overwrite, "Replace the output if it exists");
  command->add_option("--threads", core.threads, "Compute threads; 0 = available cores")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1024}));
  command->add_option("--python", options.python,
                      "ONNX: the Python with torch and onnx (default: $FTL_PYTHON, else " +
                          std::string(kDefaultExportPython) + ")");
  command->add_option("--node", options.node,
                      "ONNX: Node.js, for ONNX Runtime's parity check (default: $FTL_NODE, else "
                      "node on PATH)");
  command->add_option("--onnx-tools", options.onnx_tools,
                      "ONNX: the folder of export_onnx.py, run_onnx.js and onnxruntime-node "
                      "(default: $FTL_ONNX_TOOLS, else " +
                          default_onnx_tools(executable_path()).string() + ")");
  command->footer(kExitCodeHelp);
  return command;
}

int run_export(const ExportCliOptions& options, spdlog::logger& log) {
  ExportOptions core = options.core;
  core.batch = parse_batch(options.batch);
  core.tools.python = first_set(options.python, "FTL_PYTHON", kDefaultExportPython);
  core.tools.node = first_set(options.node, "FTL_NODE", "node");
  core.tools.onnx_dir = first_set(options.onnx_tools, "FTL_ONNX_TOOLS",
                                  default_onnx_tools(executable_path()).string());
  const ExportResult result = export_model(core, log);
  std::cout << to_json(result).dump(2) << "\n" << std::flush;
  if (!result.written) {
    log.error(
        "{}: not written: the exported network's probabilities differ from {}'s beyond the "
        "bound",
        core.output.string(), core.checkpoint.string());
    return kExitQualityGate;
  }
  log.info("{}: {} bytes ({} for the checkpoint)", core.output.string(), result.bytes,
           result.checkpoint_bytes);
  return kExitOk;
}

}  // namespace ftl::cli
