// ftl data check through the ftl executable: its exit codes and its JSON.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "support/image_files.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;
using ftl::testing::write_grey_png;

TEST_CASE("data check: exit 0 when clean, 1 with bad images, JSON on request", "[data][cli]") {
  ftl::testing::TempDir dir;
  write_grey_png(dir / "data/bag/a.png", 8, 8);
  write_grey_png(dir / "data/shoe/b.png", 8, 8);
  const std::string ftl = shell_quote(ftl::testing::kFtlBinary) + " -q data check ";
  const auto clean = run_command(ftl + shell_quote((dir / "data").string()) + " --json");
  CHECK(clean.exit_code == 0);
  CHECK(nlohmann::json::parse(clean.output)["bad"].empty());

  std::ofstream(dir / "data/shoe/c.png") << "junk";
  std::ofstream(dir / "list.csv") << "path,label\ndata/shoe/c.png,shoe\ndata/bag/a.png,bag\n";
  const auto bad = run_command(ftl + shell_quote((dir / "list.csv").string()) + " 2>&1");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output,
             Contains("c.png: not a JPEG or PNG file") &&
                 Contains("1 of 2 images in " + (dir / "list.csv").string() + " cannot be used"));
  const auto missing = run_command(ftl + shell_quote((dir / "nope").string()) + " 2>&1");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains((dir / "nope").string() + ": not a folder (missing)"));
}
