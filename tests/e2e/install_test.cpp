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
using ftl::testing::quoted;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

// The variables that would name other tools than the installed ones.
const std::string kWithoutOverrides = "env -u FTL_ONNX_TOOLS -u FTL_PYTHON -u FTL_NODE ";

// The folders an installed ftl must not need: the source tree and the build folder.
const std::vector<fs::path> kHidden = {FTL_TEST_BUILD_DIR, ftl::testing::kSourceDir};

// Whether `path` lies in `folder` (both made absolute and free of links first).
bool inside(const fs::path& path, const fs::path& folder) {
  const std::string within = fs::weakly_canonical(path).string() + "/";
  const std::string root = fs::weakly_canonical(folder).string() + "/";
  return within.rfind(root, 0) == 0;
}

// The mount that hides a folder, for `sh -c`.
std::string hide(const fs::path& folder) {
  return "mount -t tmpfs ftl-hidden " + quoted(folder) + " && ";
}

// Skips the test (CTest's code 77) where it cannot hide the source tree: no mount namespace of
// its own to make (unshare needs root or user namespaces), or a temporary folder inside the
// folders it must hide. Runs before anything is written, so a skip leaves nothing behind.
void skip_unless_hideable(const fs::path& temporary) {
  const auto probe = run_command("unshare -m --propagation private sh -c " +
                                 shell_quote(hide(kHidden.front()) + "true") + " 2>&1");
  std::string why;
  if (probe.exit_code != 0) why = "a mount namespace cannot be made here (" + probe.output + ")";
  for (const fs::path& folder : kHidden) {
    if (inside(temporary, folder)) why = "the temporary folder lies in " + folder.string();
  }
  if (why.empty()) return;
  std::cerr << "SKIPPED: the source tree cannot be hidden from the installed ftl: " << why << "\n";
  std::exit(ftl::testing::kSkipped);
}

// `command` from / in a mount namespace where every folder of kHidden is an empty tmpfs (the
// build folder first: it may lie inside the source tree), after checking that they are.
std::string out_of_reach(const std::string& command) {
  std::string hidden;
  for (const fs::path& folder : kHidden) hidden += hide(folder);
  return "unshare -m --propagation private sh -c " +
         shell_quote(hidden + "test ! -e " +
                     quoted(fs::path(ftl::testing::kSourceDir) / "scripts") + " && cd / && " +
                     command);
}

}  // namespace

TEST_CASE("install: an installed ftl exports ONNX with the source tree out of reach", "[install]") {
  skip_unless_hideable(fs::temp_directory_path());
  ftl::testing::TempDir dir;
  // /proc/self/exe names the binary by its real path: compare with the prefix's.
  const fs::path prefix = fs::weakly_canonical(dir / "prefix");
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
  const auto help = run_command(kWithoutOverrides + quoted(ftl) + " export --help");
  CHECK_THAT(help.output, Contains("else " + (prefix / "share/ftl/onnx").string() + ")"));

  const fs::path checkpoint = ftl::testing::write_tiny_checkpoint(dir / "best.pt", 5);
  const fs::path onnx = dir / "tiny.onnx";
  const auto exported =
      run_command(out_of_reach(kWithoutOverrides + quoted(ftl) + " -q export --checkpoint " +
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
  const auto missing =
      run_command(kWithoutOverrides + quoted(ftl) + " -q export --checkpoint " +
                  quoted(checkpoint) + " --output " + quoted(dir / "again.onnx") + " 2>&1");
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output,
             Contains((prefix / "share/ftl/onnx/export_onnx.py").string() + ": no such file"));
}
