#include "ftl/image/png_writer.h"

#include <catch2/catch.hpp>

#include "ftl/util/errors.h"

namespace {

// A PNG's colour type: the byte after the IHDR chunk's width, height and bit depth.
int png_colour_type(const std::string& png) { return static_cast<unsigned char>(png.at(25)); }

ftl::Image gradient(int width, int height, bool grey) {
  ftl::Image image{width, height, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const auto level = static_cast<std::uint8_t>((x * 7 + y * 13) % 256);
      image.pixels.push_back(level);
      image.pixels.push_back(grey ? level : static_cast<std::uint8_t>(255 - level));
      image.pixels.push_back(grey ? level : static_cast<std::uint8_t>(y));
    }
  }
  return image;
}

ftl::Image decoded(const std::string& png) {
  return ftl::decode_image(reinterpret_cast<const std::uint8_t*>(png.data()), png.size());
}

}  // namespace

TEST_CASE("png writer: ftl's reader gives the same pixels back, grey kept as grey", "[png]") {
  const ftl::Image colour = gradient(37, 11, /*grey=*/false);
  const std::string colour_png = ftl::encode_png(colour);
  CHECK(colour_png.substr(1, 3) == "PNG");
  CHECK(png_colour_type(colour_png) == 2);  // RGB
  const ftl::Image colour_back = decoded(colour_png);
  CHECK(colour_back.width == 37);
  CHECK(colour_back.height == 11);
  CHECK(colour_back.pixels == colour.pixels);

  const ftl::Image grey = gradient(37, 11, /*grey=*/true);
  const std::string grey_png = ftl::encode_png(grey);
  CHECK(png_colour_type(grey_png) == 0);  // greyscale: one byte a pixel
  CHECK(grey_png.size() < colour_png.size());
  CHECK(decoded(grey_png).pixels == grey.pixels);
}

TEST_CASE("png writer: an image without pixels is refused, naming its size", "[png]") {
  CHECK_THROWS_MATCHES(ftl::encode_png(ftl::Image{}), ftl::IoError,
                       Catch::Message("PNG encoding: an image of 0x0 with 0 bytes of pixels"));
  const ftl::Image short_of_pixels{2, 2, std::vector<std::uint8_t>(5)};
  CHECK_THROWS_MATCHES(ftl::encode_png(short_of_pixels), ftl::IoError,
                       Catch::Message("PNG encoding: an image of 2x2 with 5 bytes of pixels"));
}
