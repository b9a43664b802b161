// ftl data check: every image read once, bad ones listed with their reason, counts and sizes.
#include "ftl/data/data_check.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/util/errors.h"
#include "support/fixtures.h"
#include "support/image_files.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ftl::testing::run_command;
using ftl::testing::shell_quote;

namespace {

void grey_png(const fs::path& path, int width, int height) {
  fs::create_directories(path.parent_path());
  ftl::testing::write_png(path, width, height, 1,
                          std::vector<std::uint16_t>(static_cast<std::size_t>(width * height), 7));
}

}  // namespace

TEST_CASE("data check: counts, sizes, skipped files and every bad image with its reason",
          "[data]") {
  ftl::testing::TempDir dir;
  grey_png(dir / "data/bag/a.png", 10, 20);
  grey_png(dir / "data/bag/b b.png", 30, 40);
  grey_png(dir / "data/shoe/ü.PNG", 50, 60);
  std::ofstream(dir / "data/shoe/empty.png");  // zero bytes
  std::ofstream(dir / "data/shoe/notes.txt") << "not listed";
  std::ofstream(dir / "data/shoe/.DS_Store") << "hidden";

  ftl::DataCheckOptions options;
  options.data = dir / "data";
  options.workers = 2;
  const ftl::DataCheck check = ftl::check_data(options);
  CHECK(check.images == 4);
  CHECK(check.counts == std::vector<std::int64_t>{2, 2});
  CHECK(check.skipped_files == 2);
  CHECK(check.width.min == 10);
  CHECK(check.width.median == 30);
  CHECK(check.width.max == 50);
  CHECK(check.height.max == 60);
  REQUIRE(check.bad.size() == 1);
  CHECK(check.bad_paths[0] == (dir / "data/shoe/empty.png").string());
  CHECK(check.bad[0].reason == "empty file, not a JPEG or PNG file");

  const auto json = ftl::data_check_json(check);
  CHECK(json["classes"]["bag"] == 2);
  CHECK(json["imbalance"] == 1.0);
  CHECK(json["bad"][0]["reason"] == "empty file, not a JPEG or PNG file");
  CHECK_THAT(ftl::data_check_text(check),
             Contains("4 images in 2 classes") && Contains("1 bad images:") &&
                 Contains("empty.png: empty file, not a JPEG or PNG file") &&
                 Contains("2 hidden or non-image files left out"));
}

TEST_CASE("data check: exit 0 when clean, 1 with bad images, JSON on request", "[data][cli]") {
  ftl::testing::TempDir dir;
  grey_png(dir / "data/bag/a.png", 8, 8);
  grey_png(dir / "data/shoe/b.png", 8, 8);
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
