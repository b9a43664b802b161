// EXIF orientation: cameras store a photo as the sensor saw it and record in a tag how it must
// be turned to stand upright. Only that one tag is read, with every offset bounds-checked,
// because EXIF blocks come from untrusted files.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ftl/image/image.h"

namespace ftl {

/// The EXIF tag that holds the orientation (1 to 8; 1 = upright as stored).
inline constexpr std::uint16_t kExifOrientationTag = 0x0112;

/// The orientation recorded in a TIFF-structured EXIF block (as held by a PNG eXIf chunk, or a
/// JPEG APP1 segment after its "Exif\0\0" header). 1 when the tag is absent, malformed or out
/// of range, since a damaged tag must not cost the image.
int exif_orientation(const std::uint8_t* tiff, std::size_t size);

/// The orientation in a JPEG APP1 segment's payload, which starts with "Exif\0\0"; 1 otherwise.
int jpeg_app1_orientation(const std::uint8_t* payload, std::size_t size);

/// Turns an image by an EXIF orientation so that it stands upright, as PIL's
/// ImageOps.exif_transpose does. Orientations 5 to 8 swap width and height.
Image apply_orientation(Image image, int orientation);

}  // namespace ftl
