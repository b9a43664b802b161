// Decoding of the image files a dataset holds (JPEG and PNG) into 8-bit RGB pixels.
// The pixels match what PIL's Image.open(path).convert("RGB") gives, because users compare
// ftl against Python baselines built on PIL: alpha is dropped (not composited), gamma chunks
// are ignored, CMYK JPEGs are read with Adobe polarity.
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

/// An 8-bit RGB image, row-major, 3 bytes per pixel (R, G, B).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // width * height * 3 bytes
};

/// Decodes JPEG or PNG bytes (format detected from the magic bytes, not a file name) to RGB.
/// Throws DataError with the reason (e.g. "not a JPEG or PNG file", "corrupt JPEG data:
/// <libjpeg message>", "truncated JPEG data").
Image decode_image(const std::uint8_t* data, std::size_t size);

/// Reads a file and decodes it; throws DataError whose message starts with the path:
/// "<path>: <reason>". A missing or unreadable file is also a DataError naming the path and
/// the system's reason.
Image read_image(const std::filesystem::path& path);

/// The reason of a read_image error without its leading "<path>: ", for lists that show the
/// path in a column of its own.
std::string image_error_reason(const std::string& message, const std::filesystem::path& path);

}  // namespace ftl
