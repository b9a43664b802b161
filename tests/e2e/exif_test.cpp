// EXIF orientation on whole files tagged by PIL, turned upright exactly as PIL's
// ImageOps.exif_transpose turns them.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>

#include "ftl/image/image.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

namespace ftl {
namespace {

using ftl::testing::TempDir;

TEST_CASE("exif: tagged JPEG and PNG files decode upright, as PIL turns them",
          "[image][exif][python]") {
  TempDir dir;
  for (const std::string extension : {".jpg", ".png"}) {
    for (int orientation = 1; orientation <= 8; ++orientation) {
      const auto file = dir / ("tagged_" + std::to_string(orientation) + extension);
      const auto expected = dir / ("expected_" + std::to_string(orientation) + extension + ".rgb");
      INFO(file.string());
      const auto python = ftl::testing::run_command(
          ftl::testing::kPython + " " + ftl::testing::kSourceDir + "/tests/python/pil_exif.py " +
          file.string() + " " + std::to_string(orientation) + " " + expected.string() + " 2>&1");
      INFO(python.output);
      REQUIRE(python.exit_code == 0);
      const std::string pil = ftl::testing::read_file(expected);

      const Image upright = read_image(file);
      CHECK(std::to_string(upright.width) + " " + std::to_string(upright.height) + "\n" ==
            python.output);
      REQUIRE(upright.pixels.size() == pil.size());
      int worst = 0;
      for (std::size_t i = 0; i < pil.size(); ++i) {
        worst = std::max(worst, std::abs(upright.pixels[i] - static_cast<std::uint8_t>(pil[i])));
      }
      CHECK(worst == 0);  // the same libjpeg decodes both: the pixels are identical

      DecodeOptions as_stored;
      as_stored.exif_orientation = false;
      const Image stored = read_image(file, as_stored);
      CHECK(stored.width == 6);
      CHECK(stored.height == 4);
    }
  }
}

}  // namespace
}  // namespace ftl
