// EXIF orientation: the tag parser against hand-built TIFF blocks (both byte orders, damaged
// offsets) and the eight turns on a small image (files tagged by PIL: tests/e2e/exif_test.cpp).
#include "ftl/image/exif.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ftl/image/image.h"

namespace ftl {
namespace {

using Bytes = std::vector<std::uint8_t>;

/// A TIFF block with one directory of `entries` entries, the last of which is the orientation
/// tag (type SHORT, count 1) holding `orientation`.
Bytes tiff_block(bool big_endian, std::uint16_t orientation, int entries = 1) {
  Bytes bytes;
  auto put16 = [&](std::uint16_t value) {
    const auto high = static_cast<std::uint8_t>(value >> 8U);
    const auto low = static_cast<std::uint8_t>(value & 0xFFU);
    bytes.push_back(big_endian ? high : low);
    bytes.push_back(big_endian ? low : high);
  };
  auto put32 = [&](std::uint32_t value) {
    put16(static_cast<std::uint16_t>(big_endian ? value >> 16U : value & 0xFFFFU));
    put16(static_cast<std::uint16_t>(big_endian ? value & 0xFFFFU : value >> 16U));
  };
  bytes.push_back(big_endian ? 'M' : 'I');
  bytes.push_back(big_endian ? 'M' : 'I');
  put16(42);
  put32(8);  // the directory follows the header
  put16(static_cast<std::uint16_t>(entries));
  for (int i = 0; i + 1 < entries; ++i) {  // other tags first (ImageWidth, type LONG)
    put16(0x0100);
    put16(4);
    put32(1);
    put32(640);
  }
  put16(kExifOrientationTag);
  put16(3);  // SHORT
  put32(1);
  put16(orientation);
  put16(0);  // the rest of the 4-byte value field
  put32(0);  // no next directory
  return bytes;
}

TEST_CASE("exif: the orientation tag is read in either byte order", "[image][exif]") {
  for (bool big_endian : {false, true}) {
    for (std::uint16_t orientation = 1; orientation <= 8; ++orientation) {
      const Bytes block = tiff_block(big_endian, orientation, /*entries=*/3);
      CHECK(exif_orientation(block.data(), block.size()) == orientation);
    }
  }
  Bytes app1 = {'E', 'x', 'i', 'f', 0, 0};
  const Bytes block = tiff_block(true, 6);
  app1.insert(app1.end(), block.begin(), block.end());
  CHECK(jpeg_app1_orientation(app1.data(), app1.size()) == 6);
  app1[0] = 'X';  // an APP1 segment that is not EXIF (XMP, say)
  CHECK(jpeg_app1_orientation(app1.data(), app1.size()) == 1);
}

TEST_CASE("exif: a damaged or missing tag means upright, never a read out of bounds",
          "[image][exif]") {
  const Bytes good = tiff_block(false, 6, /*entries=*/2);
  REQUIRE(exif_orientation(good.data(), good.size()) == 6);
  // Every truncation: the tag's entry is cut, so it is not trusted.
  for (std::size_t size = 0; size + 10 < good.size(); ++size) {
    INFO("size " << size);
    CHECK(exif_orientation(good.data(), size) == 1);
  }
  Bytes bad_order = good;
  bad_order[0] = 'X';
  CHECK(exif_orientation(bad_order.data(), bad_order.size()) == 1);
  Bytes far_directory = good;
  far_directory[4] = 0xF0;  // the directory offset points past the end
  CHECK(exif_orientation(far_directory.data(), far_directory.size()) == 1);
  Bytes many_entries = good;
  many_entries[8] = 0xFF;  // an entry count far beyond the block, and no orientation in it
  many_entries[9] = 0xFF;
  many_entries[22] = 0x01;  // the orientation entry's tag becomes 0x0101
  many_entries[23] = 0x01;
  CHECK(exif_orientation(many_entries.data(), many_entries.size()) == 1);
  const Bytes out_of_range = tiff_block(false, 9);
  CHECK(exif_orientation(out_of_range.data(), out_of_range.size()) == 1);
  CHECK(exif_orientation(nullptr, 0) == 1);
}

/// A 3x2 image whose pixel (x, y) has red 10 * (y * 3 + x) + 10, so each is recognisable.
Image numbered() {
  Image image;
  image.width = 3;
  image.height = 2;
  for (int i = 0; i < 6; ++i) {
    const auto value = static_cast<std::uint8_t>(10 * i + 10);
    image.pixels.insert(image.pixels.end(), {value, 0, 0});
  }
  return image;
}

std::vector<int> reds(const Image& image) {
  std::vector<int> values;
  for (std::size_t i = 0; i < image.pixels.size(); i += 3) values.push_back(image.pixels[i]);
  return values;
}

TEST_CASE("exif: each orientation turns the image as exif_transpose does", "[image][exif]") {
  // The stored image:   10 20 30
  //                     40 50 60
  using Values = std::vector<int>;
  CHECK(reds(apply_orientation(numbered(), 1)) == Values{10, 20, 30, 40, 50, 60});
  CHECK(reds(apply_orientation(numbered(), 2)) == Values{30, 20, 10, 60, 50, 40});
  CHECK(reds(apply_orientation(numbered(), 3)) == Values{60, 50, 40, 30, 20, 10});
  CHECK(reds(apply_orientation(numbered(), 4)) == Values{40, 50, 60, 10, 20, 30});
  CHECK(reds(apply_orientation(numbered(), 5)) == Values{10, 40, 20, 50, 30, 60});
  CHECK(reds(apply_orientation(numbered(), 6)) == Values{40, 10, 50, 20, 60, 30});
  CHECK(reds(apply_orientation(numbered(), 7)) == Values{60, 30, 50, 20, 40, 10});
  CHECK(reds(apply_orientation(numbered(), 8)) == Values{30, 60, 20, 50, 10, 40});
  const Image turned = apply_orientation(numbered(), 6);
  CHECK(turned.width == 2);
  CHECK(turned.height == 3);
}

}  // namespace
}  // namespace ftl
