// libpng's simplified write API: plain 8-bit pixels need none of the control of the read side
// (image.cpp), where the file's own chunks must be ignored to match PIL.
#include "ftl/image/png_writer.h"

#include <png.h>

#include <cstdint>
#include <vector>

#include "ftl/util/errors.h"

namespace ftl {
namespace {

constexpr std::size_t kRgb = 3;

bool is_grey(const Image& image) {
  for (std::size_t i = 0; i + 2 < image.pixels.size(); i += kRgb) {
    if (image.pixels[i] != image.pixels[i + 1] || image.pixels[i] != image.pixels[i + 2]) {
      return false;
    }
  }
  return true;
}

std::vector<std::uint8_t> grey_channel(const Image& image) {
  std::vector<std::uint8_t> grey;
  grey.reserve(image.pixels.size() / kRgb);
  for (std::size_t i = 0; i < image.pixels.size(); i += kRgb) grey.push_back(image.pixels[i]);
  return grey;
}

}  // namespace

std::string encode_png(const Image& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() !=
          static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * kRgb) {
    throw IoError("PNG encoding: an image of " + std::to_string(image.width) + "x" +
                  std::to_string(image.height) + " with " + std::to_string(image.pixels.size()) +
                  " bytes of pixels");
  }
  const bool grey = is_grey(image);
  const std::vector<std::uint8_t> grey_pixels =
      grey ? grey_channel(image) : std::vector<std::uint8_t>();
  const std::uint8_t* pixels = grey ? grey_pixels.data() : image.pixels.data();

  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  // Two calls: the first measures, the second writes.
  png_alloc_size_t size = 0;
  if (png_image_write_to_memory(&png, nullptr, &size, 0, pixels, 0, nullptr) == 0) {
    throw IoError(std::string("PNG encoding: ") + png.message);
  }
  std::string bytes(size, '\0');
  if (png_image_write_to_memory(&png, bytes.data(), &size, 0, pixels, 0, nullptr) == 0) {
    throw IoError(std::string("PNG encoding: ") + png.message);
  }
  bytes.resize(size);
  png_image_free(&png);
  return bytes;
}

}  // namespace ftl
