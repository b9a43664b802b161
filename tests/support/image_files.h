// Writers of small image files that tests decode: PNGs of every colour type, bit depth and
// interlacing, and JPEGs in grey, RGB and CMYK. They write exactly the samples given, so a test
// can state the pixels it expects. They throw std::runtime_error naming the path on failure.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace ftl::testing {

/// How write_png lays out the file; the samples mean the same either way.
struct PngOptions {
  int bit_depth = 8;        ///< 1, 2 or 4 (grey only), 8 or 16; every sample must fit in it
  bool interlaced = false;  ///< Adam7 interlacing
  double gamma = 0.0;       ///< when > 0, a gAMA chunk with this file gamma (1.0: linear)
};

/// Writes a grey (1), grey+alpha (2), RGB (3) or RGBA (4) PNG from width * height * channels
/// samples, row-major with the channels of a pixel together.
void write_png(const std::filesystem::path& path, int width, int height, int channels,
               const std::vector<std::uint16_t>& samples, const PngOptions& options = {});

/// Writes a width x height grey PNG of one level, making the folders it goes in: for tests that
/// count and measure images rather than read their pixels.
void write_grey_png(const std::filesystem::path& path, int width, int height);

/// A palette colour and its alpha (255: opaque).
struct PaletteEntry {
  std::uint8_t red = 0;
  std::uint8_t green = 0;
  std::uint8_t blue = 0;
  std::uint8_t alpha = 255;
};

/// Writes an 8-bit palette PNG from width * height indices into the palette; a tRNS chunk is
/// written when an entry is not opaque.
void write_png_palette(const std::filesystem::path& path, int width, int height,
                       const std::vector<PaletteEntry>& palette,
                       const std::vector<std::uint8_t>& indices);

/// Writes a baseline JPEG, grey (1 channel) or YCbCr from RGB (3), from width * height *
/// channels bytes; quality is libjpeg's 1..100.
void write_jpeg(const std::filesystem::path& path, int width, int height, int channels, int quality,
                const std::vector<std::uint8_t>& pixels);

/// How write_jpeg_cmyk stores the four channels in the file.
enum class CmykStorage {
  kCmyk,  ///< as they are
  kYcck,  ///< C, M, Y turned into YCbCr by libjpeg, K as it is
};

/// Writes a JPEG with an Adobe marker from width * height * 4 CMYK samples, which libjpeg
/// stores as given: in Adobe polarity that means 255 is no ink, the convention PIL assumes.
void write_jpeg_cmyk(const std::filesystem::path& path, int width, int height, int quality,
                     const std::vector<std::uint8_t>& samples,
                     CmykStorage storage = CmykStorage::kCmyk);

}  // namespace ftl::testing
