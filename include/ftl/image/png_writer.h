// PNG encoding through libpng, for the thumbnails that HTML reports embed.
#pragma once

#include <string>

#include "ftl/image/image.h"

namespace ftl {

/// The image as the bytes of an 8-bit PNG file: greyscale when every pixel has R = G = B (a
/// third of the size, and what greyscale datasets such as Fashion-MNIST are), else RGB.
/// read_image / decode_image give the same pixels back. Throws IoError with libpng's reason
/// (an empty image has no PNG form).
std::string encode_png(const Image& image);

}  // namespace ftl
