// Paths and helpers shared by the tests that need the ResNet-18 fixture, Python or the ftl
// executable. CMake passes the paths in as compile definitions.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <filesystem>
#include <memory>
#include <string>

namespace ftl::testing {

/// torchvision ResNet-18 with random weights, exported by scripts/export_resnet18.py.
inline const std::string kResNet18 = FTL_TEST_RESNET18;
/// A Python interpreter that imports torch and torchvision.
inline const std::string kPython = FTL_TEST_PYTHON;
inline const std::string kSourceDir = FTL_TEST_SOURCE_DIR;
inline const std::string kFtlBinary = FTL_TEST_BINARY;

/// A logger that drops everything, for core calls whose output the test does not read.
inline spdlog::logger& quiet_logger() {
  static spdlog::logger logger("quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout (stderr too when the command redirects it)
};

/// Runs a shell command and returns its exit code and standard output.
CommandResult run_command(const std::string& command);

/// The whole content of a file (empty when it cannot be opened).
std::string read_file(const std::filesystem::path& path);

/// Quotes a string for the shell.
std::string shell_quote(const std::string& text);

}  // namespace ftl::testing
