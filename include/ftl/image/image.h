// Decoding of the image files a dataset holds (JPEG and PNG) into 8-bit RGB pixels.
// The pixels match what PIL's Image.open(path).convert("RGB") gives, because users compare
// ftl against Python baselines built on PIL: alpha is dropped (not composited on a
// background), gamma chunks are ignored, CMYK and YCCK JPEGs are read with Adobe polarity.
// Two steps go beyond a plain PIL open, both on by default and both switchable: the EXIF
// orientation is applied (as ImageOps.exif_transpose does), and a large JPEG is decoded at a
// reduced DCT scale (as PIL's Image.draft does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ftl {

/// Largest accepted width or height, so that a corrupt or hostile header cannot make us
/// allocate gigabytes before a single pixel is decoded.
inline constexpr int kMaxImageSide = 1 << 15;
/// Largest accepted pixel count: PIL's decompression-bomb limit (2 x Image.MAX_IMAGE_PIXELS),
/// about 13400 x 13400, 537 MB of RGB; a few hundred bytes of PNG can claim more.
inline constexpr long long kMaxImagePixels = 178956970;

/// The channels of every decoded image and of the network input made from it: R, G, B.
inline constexpr int kImageChannels = 3;

/// An 8-bit RGB image, row-major, 3 bytes per pixel (R, G, B).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // width * height * 3 bytes
};

struct DecodeOptions {
  /// > 0: a JPEG whose sides are both at least twice this is decoded at 1/2, 1/4 or 1/8 scale,
  /// the smallest that keeps both sides >= min_side. libjpeg then skips most of the inverse
  /// DCT work, which makes large photos several times cheaper. 0 = always full size.
  int min_side = 0;
  /// Turn the image upright by its EXIF orientation tag (JPEG APP1, PNG eXIf before the data).
  bool exif_orientation = true;
};

/// Decodes JPEG or PNG bytes (format detected from the magic bytes, not a file name) to RGB.
/// Throws DataError with the reason (e.g. "not a JPEG or PNG file", "corrupt JPEG data:
/// <libjpeg message>", "truncated JPEG data").
Image decode_image(const std::uint8_t* data, std::size_t size, const DecodeOptions& options = {});

/// Reads a file and decodes it; throws DataError whose message starts with the path:
/// "<path>: <reason>". A missing or unreadable file is also a DataError naming the path and
/// the system's reason.
Image read_image(const std::filesystem::path& path, const DecodeOptions& options = {});

/// The reason of a read_image error without its leading "<path>: ", for lists that show the
/// path in a column of its own.
std::string image_error_reason(const std::string& message, const std::filesystem::path& path);

}  // namespace ftl
