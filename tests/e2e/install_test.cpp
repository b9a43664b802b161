// cmake --install into a temporary prefix, then `ftl export --format onnx` run from that prefix
// with the source tree and the build folder out of reach (each under an empty tmpfs, in a mount
// namespace of the test's own): an installed ftl runs on what it installed.
#include <catch2/catch.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "support/serve_harness.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

std::string quoted(const fs::path& path) { return shell_quote(path.string()); }

// The folders an installed ftl must not need: the source tree and the build folder.
const std::vector<fs::path> kHidden = {FTL_TEST_BUILD_DIR, ftl::testing::kSourceDir};

// `command` in a mount namespace where every folder of kHidden is an empty tmpfs (the build
// folder first: it may lie inside the source tree), or a skip where namespaces are not ours
// to make (unshare needs root or user namespaces).
std::string out_of_reach(const std::string& command) {
  if (run_command("unshare -m --propagation private true 2>&1").exit_code != 0) {
    std::cerr << "SKIPPED: unshare -m is not permitted here, so the source tree cannot be "
                 "hidden from the installed ftl\n";
    std::exit(ftl::testing::kSkipped);
  }
  std::string hide;
  for (const fs::path& folder : kHidden) {
    hide += "mount -t tmpfs ftl-hidden " + quoted(folder) + " && ";
  }
  return "unshare -m --propagation private sh -c " +
         shell_quote(hide + "test ! -e " + quoted(fs::path(ftl::testing::kSourceDir) / "scripts") +
                     " && " + command);
}

}  // namespace

TEST_CASE("install: an installed ftl exports ONNX with the source tree out of reach", "[install]") {
  ftl::testing::TempDir dir;
  const fs::path prefix = dir / "prefix";
  const auto installed =
      run_command(shell_quote(FTL_TEST_CMAKE) + " --install " + quoted(FTL_TEST_BUILD_DIR) +
                  " --prefix " + quoted(prefix) + " 2>&1");
  INFO(installed.output);
  REQUIRE(installed.exit_code == 0);
  for (const char* file : {"bin/ftl", "share/ftl/export_model.py", "share/ftl/onnx/export_onnx.py",
                           "share/ftl/onnx/run_onnx.js",
                           "share/ftl/onnx/node_modules/onnxruntime-node/package.json"}) {
    INFO(file);
    CHECK(fs::is_regular_file(prefix / file));
  }
  // Only the Linux build of onnxruntime-node's library is installed.
  CHECK_FALSE(
      fs::exists(prefix / "share/ftl/onnx/node_modules/onnxruntime-node/bin/napi-v6/win32"));

  const fs::path ftl = prefix / "bin/ftl";
  const auto help = run_command(quoted(ftl) + " export --help");
  CHECK_THAT(help.output, Contains("else " + (prefix / "share/ftl/onnx").string() + ")"));

  const fs::path checkpoint = ftl::testing::write_tiny_checkpoint(dir / "best.pt", 5);
  const fs::path onnx = dir / "tiny.onnx";
  const auto exported =
      run_command(out_of_reach("env -u FTL_ONNX_TOOLS " + quoted(ftl) + " -q export --checkpoint " +
                               quoted(checkpoint) + " --output " + quoted(onnx)) +
                  " 2>&1");
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  const nlohmann::json answer = nlohmann::json::parse(exported.output);
  CHECK(answer["format"] == "onnx");
  CHECK(answer["written"] == true);
  CHECK(answer["parity"]["generated"]["passed"] == true);
  CHECK(fs::is_regular_file(onnx));

  // The same command, its tools folder gone: the error names where it looked.
  fs::rename(prefix / "share/ftl/onnx", dir / "moved");
  const auto missing = run_command(quoted(ftl) + " -q export --checkpoint " + quoted(checkpoint) +
                                   " --output " + quoted(dir / "again.onnx") + " 2>&1");
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Contains("export_onnx.py: no such file"));
}
