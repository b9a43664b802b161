// ftl data check: every image read once, bad ones listed with their reason, counts and sizes.
#include "ftl/data/data_check.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "ftl/util/errors.h"
#include "support/image_files.h"
#include "support/temp_dir.h"

using Catch::Matchers::Contains;
using ftl::testing::write_grey_png;

TEST_CASE("data check: counts, sizes, skipped files and every bad image with its reason",
          "[data]") {
  ftl::testing::TempDir dir;
  write_grey_png(dir / "data/bag/a.png", 10, 20);
  write_grey_png(dir / "data/bag/b b.png", 30, 40);
  write_grey_png(dir / "data/shoe/ü.PNG", 50, 60);
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

  const auto summary = ftl::data_check_json(check);
  CHECK(summary["classes"]["bag"] == 2);
  CHECK(summary["imbalance"] == 1.0);
  CHECK(summary["bad"][0]["reason"] == "empty file, not a JPEG or PNG file");
  CHECK_THAT(ftl::data_check_text(check),
             Contains("4 images in 2 classes") && Contains("1 bad images:") &&
                 Contains("empty.png: empty file, not a JPEG or PNG file") &&
                 Contains("2 hidden or non-image files left out"));
}
