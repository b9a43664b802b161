#include "ftl/image/exif.h"

#include <cstring>
#include <utility>

namespace ftl {
namespace {

/// "Exif\0\0", which starts the payload of a JPEG APP1 segment that holds EXIF.
constexpr std::uint8_t kExifHeader[] = {'E', 'x', 'i', 'f', 0, 0};
/// Byte order mark (2), the number 42 (2) and the offset of the first directory (4).
constexpr std::size_t kTiffHeaderBytes = 8;
/// A directory entry: tag (2), type (2), count (4), value or offset (4).
constexpr std::size_t kEntryBytes = 12;
/// TIFF's number that follows the byte order mark.
constexpr std::uint16_t kTiffMagic = 42;
/// TIFF type SHORT (an unsigned 16-bit value), the orientation tag's type.
constexpr std::uint16_t kTypeShort = 3;
constexpr int kUpright = 1;
constexpr int kLastOrientation = 8;

/// Reads integers in the block's byte order; every read is bounds-checked by the caller.
struct TiffReader {
  const std::uint8_t* data;
  bool big_endian;

  std::uint16_t u16(std::size_t at) const {
    return big_endian ? static_cast<std::uint16_t>(data[at] << 8U | data[at + 1])
                      : static_cast<std::uint16_t>(data[at + 1] << 8U | data[at]);
  }
  std::uint32_t u32(std::size_t at) const {
    const std::uint32_t high = u16(big_endian ? at : at + 2);
    const std::uint32_t low = u16(big_endian ? at + 2 : at);
    return high << 16U | low;
  }
};

}  // namespace

int exif_orientation(const std::uint8_t* tiff, std::size_t size) {
  if (tiff == nullptr || size < kTiffHeaderBytes) return kUpright;
  TiffReader reader{tiff, false};
  if (tiff[0] == 'M' && tiff[1] == 'M') {
    reader.big_endian = true;
  } else if (tiff[0] != 'I' || tiff[1] != 'I') {
    return kUpright;
  }
  if (reader.u16(2) != kTiffMagic) return kUpright;
  const std::uint32_t directory = reader.u32(4);
  if (directory > size || size - directory < 2) return kUpright;
  const std::size_t entries = reader.u16(directory);
  const std::size_t first = directory + 2;
  for (std::size_t i = 0; i < entries; ++i) {
    const std::size_t entry = first + i * kEntryBytes;
    if (entry > size || size - entry < kEntryBytes) return kUpright;
    if (reader.u16(entry) != kExifOrientationTag) continue;
    if (reader.u16(entry + 2) != kTypeShort || reader.u32(entry + 4) != 1) return kUpright;
    const int value = reader.u16(entry + 8);  // a single SHORT sits in the value's first bytes
    return value >= kUpright && value <= kLastOrientation ? value : kUpright;
  }
  return kUpright;
}

int jpeg_app1_orientation(const std::uint8_t* payload, std::size_t size) {
  if (payload == nullptr || size < sizeof(kExifHeader) ||
      std::memcmp(payload, kExifHeader, sizeof(kExifHeader)) != 0) {
    return kUpright;
  }
  return exif_orientation(payload + sizeof(kExifHeader), size - sizeof(kExifHeader));
}

Image apply_orientation(Image image, int orientation) {
  if (orientation <= kUpright || orientation > kLastOrientation) return image;
  constexpr std::size_t kChannels = 3;
  const auto width = static_cast<std::size_t>(image.width);
  const auto height = static_cast<std::size_t>(image.height);
  const bool transposed = orientation >= 5;  // 5 to 8 turn by a quarter: sides swap
  Image out;
  out.width = transposed ? image.height : image.width;
  out.height = transposed ? image.width : image.height;
  out.pixels.resize(image.pixels.size());
  const auto out_width = static_cast<std::size_t>(out.width);
  const auto out_height = static_cast<std::size_t>(out.height);
  for (std::size_t y = 0; y < out_height; ++y) {
    for (std::size_t x = 0; x < out_width; ++x) {
      // Where the stored image holds the pixel that belongs at (x, y) once upright.
      std::size_t source_x = x;
      std::size_t source_y = y;
      switch (orientation) {
        case 2:
          source_x = width - 1 - x;
          break;  // mirrored
        case 3:
          source_x = width - 1 - x;
          source_y = height - 1 - y;
          break;  // upside down
        case 4:
          source_y = height - 1 - y;
          break;  // flipped
        case 5:
          source_x = y;
          source_y = x;
          break;  // transposed
        case 6:
          source_x = y;
          source_y = height - 1 - x;
          break;  // turn clockwise
        case 7:
          source_x = width - 1 - y;
          source_y = height - 1 - x;
          break;  // transverse
        default:
          source_x = width - 1 - y;
          source_y = x;
          break;  // 8: turn anticlockwise
      }
      std::memcpy(&out.pixels[(y * out_width + x) * kChannels],
                  &image.pixels[(source_y * width + source_x) * kChannels], kChannels);
    }
  }
  return out;
}

}  // namespace ftl
