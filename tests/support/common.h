// What a test of either tier may use: the repository's folder, CTest's skip code, a logger that
// drops everything, and a file read whole. Nothing here needs the ResNet-18 fixture, Python or
// the ftl executable; those are in fixtures.h, for tests/e2e only.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace ftl::testing {

/// The repository's root folder (configs/, tests/python/); CMake passes it in.
inline const std::string kSourceDir = FTL_TEST_SOURCE_DIR;

/// CTest reports a test that exits with this code as skipped (SKIP_RETURN_CODE).
inline constexpr int kSkipped = 77;

/// A logger that drops everything, for core calls whose output the test does not read.
inline spdlog::logger& quiet_logger() {
  static spdlog::logger logger("quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

/// The whole content of a file (empty when it cannot be opened).
std::string read_file(const std::filesystem::path& path);

/// The names in a folder, hidden files included, sorted: what a step that fails must not have
/// added to.
std::vector<std::string> files_in(const std::filesystem::path& folder);

}  // namespace ftl::testing
