// Decoding of every PNG colour type, bit depth and interlacing and of grey, RGB and CMYK JPEGs
// to the pixels PIL's convert("RGB") gives, and the errors for files that are truncated,
// corrupt, too large, not images at all, or missing.
#include "ftl/image/image.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "ftl/util/errors.h"
#include "support/common.h"
#include "support/image_files.h"
#include "support/temp_dir.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Bytes = std::vector<std::uint8_t>;
using Rgb = std::array<int, 3>;

/// Seed of every random fixture, so that a failure reproduces.
constexpr std::uint32_t kSeed = 20240611;
/// Largest difference from the written colour that lossy JPEG may introduce in a flat area.
constexpr int kJpegTolerance = 3;

using ftl::testing::TempDir;

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

/// Writes the first half of `whole` to `cut`: a file that ends mid-stream.
fs::path first_half_of(const fs::path& whole, const fs::path& cut) {
  Bytes bytes = read_bytes(whole);
  bytes.resize(bytes.size() / 2);
  write_bytes(cut, bytes);
  return cut;
}

Rgb pixel_at(const Image& image, int x, int y) {
  const auto offset = static_cast<std::size_t>((y * image.width + x) * 3);
  return {image.pixels[offset], image.pixels[offset + 1], image.pixels[offset + 2]};
}

bool near(const Rgb& actual, const Rgb& expected, int tolerance) {
  for (std::size_t c = 0; c < actual.size(); ++c) {
    if (std::abs(actual[c] - expected[c]) > tolerance) return false;
  }
  return true;
}

/// width * height samples of `channels` random bytes each, from a seeded generator.
Bytes noise(int width, int height, int channels) {
  std::mt19937 generator(kSeed);
  std::uniform_int_distribution<int> byte(0, 255);
  Bytes samples(static_cast<std::size_t>(width * height * channels));
  for (std::uint8_t& sample : samples) sample = static_cast<std::uint8_t>(byte(generator));
  return samples;
}

/// A width x height image whose every pixel has the samples of `colour` (grey, RGB or CMYK).
Bytes flat(int width, int height, const std::vector<std::uint8_t>& colour) {
  Bytes samples;
  for (int i = 0; i < width * height; ++i) {
    samples.insert(samples.end(), colour.begin(), colour.end());
  }
  return samples;
}

TEST_CASE("an 8-bit grey PNG is copied to R, G and B", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "grey.png";
  testing::write_png(path, 3, 2, 1, {0, 1, 127, 128, 254, 255});

  const Image image = read_image(path);
  CHECK(image.width == 3);
  CHECK(image.height == 2);
  CHECK(image.pixels ==
        Bytes{0, 0, 0, 1, 1, 1, 127, 127, 127, 128, 128, 128, 254, 254, 254, 255, 255, 255});
}

TEST_CASE("a grey+alpha PNG keeps the stored grey under any alpha", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "grey_alpha.png";
  // grey, alpha: transparent, half, opaque
  testing::write_png(path, 3, 1, 2, {200, 0, 100, 128, 50, 255});

  const Image image = read_image(path);
  CHECK(image.pixels == Bytes{200, 200, 200, 100, 100, 100, 50, 50, 50});
}

TEST_CASE("an 8-bit RGB PNG is read exactly, row-major", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "rgb.png";
  testing::write_png(path, 2, 2, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252});

  const Image image = read_image(path);
  CHECK(image.width == 2);
  CHECK(image.height == 2);
  CHECK(image.pixels == Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252});
}

TEST_CASE("an RGBA PNG drops alpha and keeps the stored colour, as PIL does", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "rgba.png";
  // Not premultiplied and not composited on a background: a transparent pixel keeps its colour.
  testing::write_png(path, 3, 1, 4, {100, 150, 200, 0, 10, 20, 30, 128, 1, 2, 3, 255});

  const Image image = read_image(path);
  CHECK(image.pixels == Bytes{100, 150, 200, 10, 20, 30, 1, 2, 3});
}

TEST_CASE("a palette PNG with transparency gives the palette colours", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "palette.png";
  testing::write_png_palette(path, 2, 2, {{255, 0, 0, 255}, {0, 128, 255, 0}, {10, 20, 30, 100}},
                             {0, 1, 2, 1});

  const Image image = read_image(path);
  CHECK(image.pixels == Bytes{255, 0, 0, 0, 128, 255, 10, 20, 30, 0, 128, 255});
}

TEST_CASE("grey PNGs below 8 bits are scaled to 0..255", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "low_depth.png";
  testing::PngOptions options;
  std::vector<std::uint16_t> samples;
  Bytes expected_grey;
  SECTION("1 bit") {
    options.bit_depth = 1;
    samples = {0, 1, 1, 0};
    expected_grey = {0, 255, 255, 0};
  }
  SECTION("2 bits") {
    options.bit_depth = 2;
    samples = {0, 1, 2, 3};
    expected_grey = {0, 85, 170, 255};
  }
  SECTION("4 bits") {
    options.bit_depth = 4;
    samples = {0, 1, 5, 15};
    expected_grey = {0, 17, 85, 255};
  }
  testing::write_png(path, 4, 1, 1, samples, options);

  const Image image = read_image(path);
  Bytes expected;
  for (std::uint8_t grey : expected_grey) expected.insert(expected.end(), {grey, grey, grey});
  CHECK(image.pixels == expected);
}

TEST_CASE("a 16-bit grey PNG gives the high byte of each sample", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "grey16.png";
  testing::PngOptions options;
  options.bit_depth = 16;
  testing::write_png(path, 5, 1, 1, {0x0000, 0x00FF, 0x1234, 0x807F, 0xFFFF}, options);

  const Image image = read_image(path);
  CHECK(image.pixels == Bytes{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x12, 0x12, 0x80, 0x80,
                              0x80, 0xFF, 0xFF, 0xFF});
}

TEST_CASE("16-bit RGB and RGBA PNGs give the high byte of each sample", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "rgb16.png";
  testing::PngOptions options;
  options.bit_depth = 16;
  SECTION("RGB") {
    testing::write_png(path, 2, 1, 3, {0x1234, 0x807F, 0xFFFF, 0x4080, 0x0001, 0xABCD}, options);
    CHECK(read_image(path).pixels == Bytes{0x12, 0x80, 0xFF, 0x40, 0x00, 0xAB});
  }
  SECTION("RGBA, transparent") {
    testing::write_png(path, 1, 1, 4, {0x1234, 0x5678, 0x9ABC, 0x0000}, options);
    CHECK(read_image(path).pixels == Bytes{0x12, 0x56, 0x9A});
  }
}

TEST_CASE("an interlaced (Adam7) PNG gives the pixels written", "[image][png]") {
  TempDir dir;
  // 9 x 9 covers every Adam7 pass, including partial 8 x 8 blocks.
  constexpr int kSide = 9;
  const Bytes pixels = noise(kSide, kSide, 3);
  const std::vector<std::uint16_t> samples(pixels.begin(), pixels.end());
  testing::PngOptions options;
  options.interlaced = true;
  testing::write_png(dir / "interlaced.png", kSide, kSide, 3, samples, options);

  const Image image = read_image(dir / "interlaced.png");
  CHECK(image.width == kSide);
  CHECK(image.height == kSide);
  CHECK(image.pixels == pixels);
}

TEST_CASE("a PNG gamma chunk does not change the stored colours, as in PIL", "[image][png]") {
  TempDir dir;
  const fs::path path = dir / "linear.png";
  testing::PngOptions options;
  options.gamma = 1.0;  // libpng's simplified API would turn 100 into 167 here
  testing::write_png(path, 1, 1, 3, {100, 150, 200}, options);

  CHECK(read_image(path).pixels == Bytes{100, 150, 200});
}

TEST_CASE("the format comes from the magic bytes, not the file name", "[image]") {
  TempDir dir;
  const fs::path path = dir / "really_a_png.jpg";
  testing::write_png(path, 1, 1, 3, {7, 8, 9});

  CHECK(read_image(path).pixels == Bytes{7, 8, 9});
}

TEST_CASE("a grey JPEG is copied to R, G and B", "[image][jpeg]") {
  TempDir dir;
  const fs::path path = dir / "grey.jpg";
  testing::write_jpeg(path, 16, 16, 1, /*quality=*/95, flat(16, 16, {77}));

  const Image image = read_image(path);
  CHECK(image.width == 16);
  CHECK(image.height == 16);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      INFO("pixel " << x << ", " << y);
      CHECK(near(pixel_at(image, x, y), {77, 77, 77}, kJpegTolerance));
    }
  }
}

TEST_CASE("an RGB JPEG keeps its colours in their places", "[image][jpeg]") {
  TempDir dir;
  const fs::path path = dir / "quadrants.jpg";
  // Four 16 x 16 quadrants, one per chroma-subsampled block, checked at the outer corners
  // where no blending across quadrants reaches.
  constexpr int kSide = 32;
  const std::array<Rgb, 4> colours = {Rgb{200, 30, 40}, Rgb{20, 60, 220}, Rgb{40, 180, 60},
                                      Rgb{240, 240, 20}};
  Bytes pixels;
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x) {
      const Rgb& colour = colours[static_cast<std::size_t>((y / 16) * 2 + x / 16)];
      for (int c : colour) pixels.push_back(static_cast<std::uint8_t>(c));
    }
  }
  testing::write_jpeg(path, kSide, kSide, 3, /*quality=*/95, pixels);

  const Image image = read_image(path);
  REQUIRE(image.width == kSide);
  REQUIRE(image.height == kSide);
  CHECK(near(pixel_at(image, 0, 0), colours[0], kJpegTolerance));
  CHECK(near(pixel_at(image, kSide - 1, 0), colours[1], kJpegTolerance));
  CHECK(near(pixel_at(image, 0, kSide - 1), colours[2], kJpegTolerance));
  CHECK(near(pixel_at(image, kSide - 1, kSide - 1), colours[3], kJpegTolerance));
}

TEST_CASE("a CMYK JPEG is read with Adobe polarity, as PIL does", "[image][jpeg]") {
  TempDir dir;
  const fs::path path = dir / "cmyk.jpg";
  auto storage = testing::CmykStorage::kCmyk;
  SECTION("stored as CMYK") { storage = testing::CmykStorage::kCmyk; }
  SECTION("stored as YCCK") { storage = testing::CmykStorage::kYcck; }
  // Stored C, M, Y, K (255: no ink); R = C * K / 255, so (200, 100, 0).
  testing::write_jpeg_cmyk(path, 16, 16, /*quality=*/95, flat(16, 16, {255, 128, 0, 200}), storage);

  const Image image = read_image(path);
  CHECK(image.width == 16);
  CHECK(image.height == 16);
  CHECK(image.pixels.size() == 16 * 16 * 3);
  CHECK(near(pixel_at(image, 0, 0), {200, 100, 0}, kJpegTolerance));
  CHECK(near(pixel_at(image, 15, 15), {200, 100, 0}, kJpegTolerance));
}

TEST_CASE("a truncated JPEG is a DataError naming the path", "[image][jpeg][error]") {
  TempDir dir;
  const fs::path whole = dir / "whole.jpg";
  testing::write_jpeg(whole, 64, 64, 3, /*quality=*/90, noise(64, 64, 3));
  const fs::path cut = first_half_of(whole, dir / "cut.jpg");

  REQUIRE_NOTHROW(read_image(whole));
  REQUIRE_THROWS_AS(read_image(cut), DataError);
  REQUIRE_THROWS_WITH(read_image(cut), Equals(cut.string() + ": truncated JPEG data"));
}

TEST_CASE("a JPEG without an image reports libjpeg's reason", "[image][jpeg][error]") {
  // A start-of-image marker followed at once by end-of-image: no frame, no scan.
  const Bytes bytes = {0xFF, 0xD8, 0xFF, 0xD9};
  REQUIRE_THROWS_AS(decode_image(bytes.data(), bytes.size()), DataError);
  REQUIRE_THROWS_WITH(decode_image(bytes.data(), bytes.size()),
                      Equals("corrupt JPEG data: JPEG datastream contains no image"));
}

TEST_CASE("a truncated PNG is a DataError naming the path", "[image][png][error]") {
  TempDir dir;
  const fs::path whole = dir / "whole.png";
  const Bytes pixels = noise(32, 32, 3);
  testing::write_png(whole, 32, 32, 3, std::vector<std::uint16_t>(pixels.begin(), pixels.end()));
  const fs::path cut = first_half_of(whole, dir / "cut.png");

  REQUIRE_NOTHROW(read_image(whole));
  REQUIRE_THROWS_AS(read_image(cut), DataError);
  REQUIRE_THROWS_WITH(read_image(cut), Equals(cut.string() + ": truncated PNG data"));
}

TEST_CASE("a PNG with a damaged chunk reports libpng's reason", "[image][png][error]") {
  TempDir dir;
  const fs::path path = dir / "bad_crc.png";
  testing::write_png(path, 4, 4, 1, std::vector<std::uint16_t>(16, 9));
  Bytes bytes = read_bytes(path);
  // Signature (8) + IHDR length (4) + type (4): the next byte is the width's first byte.
  constexpr std::size_t kIhdrWidthOffset = 16;
  bytes[kIhdrWidthOffset] ^= 0x01;
  write_bytes(path, bytes);

  REQUIRE_THROWS_AS(read_image(path), DataError);
  REQUIRE_THROWS_WITH(read_image(path),
                      Equals(path.string() + ": corrupt PNG data: IHDR: CRC error"));
}

TEST_CASE("bytes that are neither JPEG nor PNG are rejected", "[image][error]") {
  TempDir dir;
  const fs::path path = dir / "noise.jpg";
  const Bytes bytes = noise(64, 1, 1);
  write_bytes(path, bytes);

  REQUIRE_THROWS_AS(decode_image(bytes.data(), bytes.size()), DataError);
  REQUIRE_THROWS_WITH(decode_image(bytes.data(), bytes.size()), Equals("not a JPEG or PNG file"));
  REQUIRE_THROWS_WITH(read_image(path), Equals(path.string() + ": not a JPEG or PNG file"));
}

TEST_CASE("an empty file is rejected", "[image][error]") {
  TempDir dir;
  const fs::path path = dir / "empty.png";
  write_bytes(path, {});

  REQUIRE_THROWS_AS(read_image(path), DataError);
  REQUIRE_THROWS_WITH(read_image(path),
                      Equals(path.string() + ": empty file, not a JPEG or PNG file"));
}

TEST_CASE("a missing file or a directory is a DataError naming the path", "[image][error]") {
  TempDir dir;
  const fs::path missing = dir / "missing.png";
  REQUIRE_THROWS_AS(read_image(missing), DataError);
  REQUIRE_THROWS_WITH(read_image(missing),
                      Equals(missing.string() + ": cannot open file: No such file or directory"));

  const fs::path folder = dir / "folder.png";
  fs::create_directory(folder);
  REQUIRE_THROWS_AS(read_image(folder), DataError);
  REQUIRE_THROWS_WITH(read_image(folder),
                      Equals(folder.string() + ": cannot read file: Is a directory"));
}

TEST_CASE("an image wider than kMaxImageSide is rejected before decoding", "[image][error]") {
  TempDir dir;
  constexpr int kWidth = kMaxImageSide + 1;
  const std::string expected_reason =
      ": image size 32769x1 is outside the supported range (each side 1 to 32768 pixels)";
  SECTION("PNG") {
    const fs::path path = dir / "wide.png";
    testing::write_png(path, kWidth, 1, 1, std::vector<std::uint16_t>(kWidth, 0));
    REQUIRE_THROWS_AS(read_image(path), DataError);
    REQUIRE_THROWS_WITH(read_image(path), Equals(path.string() + expected_reason));
  }
  SECTION("JPEG") {
    const fs::path path = dir / "wide.jpg";
    testing::write_jpeg(path, kWidth, 1, 1, /*quality=*/50, Bytes(kWidth, 0));
    REQUIRE_THROWS_AS(read_image(path), DataError);
    REQUIRE_THROWS_WITH(read_image(path), Equals(path.string() + expected_reason));
  }
}

TEST_CASE("a JPEG claiming 3 billion pixels is refused even when decoded at 1/8 scale",
          "[image][error]") {
  // Found by fuzzing: the scaled size passed the limit, and libjpeg then spent seconds and
  // gigabytes on buffers for the stored size.
  const fs::path bomb = testing::kSourceDir + "/tests/fuzz/corpus/image/found_progressive_bomb.jpg";
  DecodeOptions options;
  options.min_side = 8;
  REQUIRE_THROWS_AS(read_image(bomb, options), DataError);
  REQUIRE_THROWS_WITH(read_image(bomb, options),
                      Contains("image size 64776x48935 is outside the supported range"));
}

TEST_CASE("a FIFO named like an image is refused at once instead of waiting for a writer",
          "[image][error]") {
  TempDir dir;
  const fs::path fifo = dir / "pipe.jpg";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  REQUIRE_THROWS_WITH(read_image(fifo),
                      Equals(fifo.string() + ": not a regular file (a FIFO, socket or device)"));
}

TEST_CASE("a header claiming more pixels than PIL's bomb limit is rejected before allocating",
          "[image][error]") {
  TempDir dir;
  const fs::path path = dir / "bomb.png";
  testing::write_png(path, 1, 1, 3, {0, 0, 0});
  Bytes bytes = read_bytes(path);
  // IHDR's data starts after the signature (8), the length (4) and the type (4): width and
  // height as big-endian 32-bit numbers, then the chunk's CRC over type and data.
  constexpr std::size_t kIhdrType = 12;
  constexpr std::size_t kIhdrData = 16;
  constexpr std::size_t kIhdrLength = 13;
  constexpr std::uint32_t kSide = 20000;  // each side allowed, 400 million pixels in all
  for (std::size_t offset : {kIhdrData, kIhdrData + 4}) {
    for (std::size_t i = 0; i < 4; ++i) {
      bytes[offset + i] = static_cast<std::uint8_t>(kSide >> (8 * (3 - i)));
    }
  }
  const auto crc =
      static_cast<std::uint32_t>(crc32(0, &bytes[kIhdrType], static_cast<uInt>(4 + kIhdrLength)));
  for (std::size_t i = 0; i < 4; ++i) {
    bytes[kIhdrData + kIhdrLength + i] = static_cast<std::uint8_t>(crc >> (8 * (3 - i)));
  }
  write_bytes(path, bytes);
  REQUIRE_THROWS_WITH(read_image(path),
                      Equals(path.string() + ": image size 20000x20000 is over the limit of "
                                             "178956970 pixels (PIL's decompression-bomb limit)"));
}

}  // namespace
}  // namespace ftl

namespace ftl {
namespace {

/// A smooth RGB gradient, the kind of content where a reduced DCT scale loses little.
Bytes gradient(int width, int height) {
  Bytes samples;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      samples.push_back(static_cast<std::uint8_t>(255 * x / (width - 1)));
      samples.push_back(static_cast<std::uint8_t>(255 * y / (height - 1)));
      samples.push_back(static_cast<std::uint8_t>(128));
    }
  }
  return samples;
}

TEST_CASE("a large JPEG decodes at the smallest DCT scale that keeps min_side",
          "[image][jpeg][dct]") {
  TempDir dir;
  const auto file = dir / "large.jpg";
  ftl::testing::write_jpeg(file, 64, 48, 3, 95, gradient(64, 48));
  struct Case {
    int min_side;
    int width;
    int height;
  };
  // 1/8 gives 8x6, 1/4 16x12, 1/2 32x24; both sides must stay >= min_side.
  for (const Case& c : {Case{0, 64, 48}, Case{6, 8, 6}, Case{7, 16, 12}, Case{12, 16, 12},
                        Case{13, 32, 24}, Case{24, 32, 24}, Case{25, 64, 48}, Case{500, 64, 48}}) {
    INFO("min_side " << c.min_side);
    DecodeOptions options;
    options.min_side = c.min_side;
    const Image image = read_image(file, options);
    CHECK(image.width == c.width);
    CHECK(image.height == c.height);
    CHECK(image.pixels.size() == static_cast<std::size_t>(c.width * c.height * 3));
  }
}

TEST_CASE("a JPEG decoded at half scale is close to the full image averaged 2x2",
          "[image][jpeg][dct]") {
  TempDir dir;
  const auto file = dir / "large.jpg";
  ftl::testing::write_jpeg(file, 64, 48, 3, 95, gradient(64, 48));
  const Image full = read_image(file);
  DecodeOptions options;
  options.min_side = 24;
  const Image half = read_image(file, options);
  REQUIRE(half.width == 32);
  double total_difference = 0;
  for (int y = 0; y < half.height; ++y) {
    for (int x = 0; x < half.width; ++x) {
      for (std::size_t c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = 0; dy < 2; ++dy) {
          for (int dx = 0; dx < 2; ++dx) sum += pixel_at(full, 2 * x + dx, 2 * y + dy)[c];
        }
        total_difference += std::abs(pixel_at(half, x, y)[c] - sum / 4.0);
      }
    }
  }
  CHECK(total_difference / (32 * 24 * 3) < 2.0);
}

TEST_CASE("a PNG is always decoded at full size", "[image][png][dct]") {
  TempDir dir;
  const auto file = dir / "large.png";
  const Bytes samples = gradient(64, 48);
  ftl::testing::write_png(file, 64, 48, 3,
                          std::vector<std::uint16_t>(samples.begin(), samples.end()));
  DecodeOptions options;
  options.min_side = 8;
  const Image image = read_image(file, options);
  CHECK(image.width == 64);
  CHECK(image.height == 48);
}

}  // namespace
}  // namespace ftl
