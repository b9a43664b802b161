// The JPEG and PNG decoders, with and without EXIF orientation and DCT scaling (chosen by the
// input's last byte). Only DataError may come out; a decoded image must hold its pixels.
#include <cstdlib>

#include "ftl/image/image.h"
#include "ftl/util/errors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ftl::DecodeOptions options;
  if (size > 0) {
    options.exif_orientation = (data[size - 1] & 1U) != 0;
    options.min_side = data[size - 1] >> 1U;  // 0 (full size) to 127
  }
  try {
    const ftl::Image image = ftl::decode_image(data, size, options);
    const auto expected =
        static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * 3;
    if (image.width < 1 || image.height < 1 || image.pixels.size() != expected) std::abort();
  } catch (const ftl::DataError&) {
  }
  return 0;
}
