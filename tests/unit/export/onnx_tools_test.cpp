// Where ftl export looks for its ONNX tools: the source tree's for the binary in its build
// folder, share/ftl/onnx beside any other binary, so that an installed ftl never reaches back
// into a checkout.
#include "ftl/export/onnx_tools.h"

#include <catch2/catch.hpp>

#include "ftl/tool_paths.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

TEST_CASE("onnx tools: the build's for the built binary, the installed ones for any other",
          "[export]") {
  CHECK(ftl::default_onnx_tools(fs::path(ftl::kBuildBinaryDir) / "ftl") == ftl::kBuildOnnxTools);

  ftl::testing::TempDir prefix;
  fs::create_directories(prefix / "bin");
  CHECK(ftl::default_onnx_tools(prefix / "bin/ftl") == prefix / "share/ftl/onnx");
  // The installed folder is the answer even where it is missing, so the error names it.
  CHECK_FALSE(fs::exists(prefix / "share/ftl/onnx"));

  // No path to go by: the build's, as a binary that cannot read /proc/self/exe had.
  CHECK(ftl::default_onnx_tools(fs::path()) == ftl::kBuildOnnxTools);
}
