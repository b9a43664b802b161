// The ResNet-18 fixture, Python and the ftl executable, and the helpers that use them: for
// tests/e2e only. CMake passes their paths to the e2e executable alone, so a unit test that
// includes this header does not compile.
#pragma once

#ifndef FTL_TEST_RESNET18
#error "support/fixtures.h is for tests/e2e: a unit test needs no fixture, Python or ftl binary"
#endif

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ftl/config/config.h"
#include "support/common.h"

namespace ftl::testing {

/// torchvision ResNet-18 with random weights, exported by scripts/model/export_model.py.
inline const std::string kResNet18 = FTL_TEST_RESNET18;
/// The folder of tests/python/export_families.py's files (<torchvision name>.pt), for the tests
/// tagged [families]: their CTest fixture exports them.
inline const std::filesystem::path kFamiliesDir = FTL_TEST_FAMILIES;
/// A Python interpreter that imports torch and torchvision.
inline const std::string kPython = FTL_TEST_PYTHON;
inline const std::string kFtlBinary = FTL_TEST_BINARY;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout (stderr too when the command redirects it)
};

/// Runs a shell command and returns its exit code and standard output.
CommandResult run_command(const std::string& command);

/// Quotes a string for the shell.
std::string shell_quote(const std::string& text);
/// Quotes a path for the shell.
inline std::string quoted(const std::filesystem::path& path) { return shell_quote(path.string()); }

/// The shell command that runs the ftl executable with `arguments` (shell syntax, quoted by the
/// caller), its stderr sent to stdout.
std::string ftl_command(const std::string& arguments);

/// Writes `config` to `path` as indented JSON, for ftl finetune --config; returns `path`.
std::filesystem::path write_config(const std::filesystem::path& path, const nlohmann::json& config);
std::filesystem::path write_config(const std::filesystem::path& path, const ftl::Config& config);

/// An untrained checkpoint of the ResNet-18 fixture with a new head for kShapeClasses (drawn
/// from `seed`), for `image_size` inputs: its answers need not be right.
std::filesystem::path write_untrained_checkpoint(const std::filesystem::path& path,
                                                 std::int64_t image_size, std::uint64_t seed);

/// A short run on shapes written to dir/train and dir/val, into dir/run: the ResNet-18 fixture,
/// 32px inputs, batches of 16, 2 workers and threads, lr 0.01, 3 epochs.
ftl::Config shapes_config(const std::filesystem::path& dir, const std::string& run);

}  // namespace ftl::testing
