// JPEG decoding through libjpeg(-turbo), PNG decoding through libpng.
//
// Both libraries report errors by calling a handler that must not return. C++ exceptions must
// not unwind through their C frames, so the handlers longjmp back to a setjmp, and the C++ side
// throws after the library's state has been destroyed. Each decode runs in two phases (header,
// then pixels), and each phase is a small function whose locals are all trivially destructible,
// so a longjmp never skips a destructor; the output buffer is allocated between the phases, in
// the caller's frame, once the header has been checked.
#include "ftl/image/image.h"

#include <cerrno>
#include <csetjmp>
#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

// clang-format off
// jpeglib.h uses FILE and size_t without including their headers, so <cstdio> goes first.
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <fcntl.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftl/image/exif.h"
#include "ftl/util/errors.h"

namespace ftl {
namespace {

/// The first bytes of every PNG file.
constexpr std::uint8_t kPngSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
/// SOI marker followed by the first byte of the next marker.
constexpr std::uint8_t kJpegSignature[] = {0xFF, 0xD8, 0xFF};
/// Channels of a decoded image (R, G, B).
constexpr int kRgbChannels = 3;
/// Channels libjpeg produces for a CMYK or YCCK JPEG.
constexpr int kCmykChannels = 4;
/// The largest 8-bit sample.
constexpr int kMaxSample = 255;
/// Room for a libpng error message; libpng's own are well under 100 characters.
constexpr std::size_t kPngMessageCapacity = 256;
/// How much of a file is read per fread call.
constexpr std::size_t kReadChunkBytes = 1 << 16;

bool starts_with(const std::uint8_t* data, std::size_t size, const std::uint8_t* prefix,
                 std::size_t prefix_size) {
  return size >= prefix_size && std::memcmp(data, prefix, prefix_size) == 0;
}

/// Rejects sizes before the pixel buffer is allocated from them.
void check_dimensions(long long width, long long height) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide) {
    throw DataError("image size " + std::to_string(width) + "x" + std::to_string(height) +
                    " is outside the supported range (each side 1 to " +
                    std::to_string(kMaxImageSide) + " pixels)");
  }
  if (width * height > kMaxImagePixels) {
    throw DataError("image size " + std::to_string(width) + "x" + std::to_string(height) +
                    " is over the limit of " + std::to_string(kMaxImagePixels) +
                    " pixels (PIL's decompression-bomb limit)");
  }
}

// JPEG decoding.

/// libjpeg's error manager extended with where to jump and what went wrong.
struct JpegErrorManager {
  jpeg_error_mgr base;  // first member: libjpeg's pointer to it converts back to the manager
  std::jmp_buf jump_buffer;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

JpegErrorManager* error_manager(j_common_ptr cinfo) {
  return reinterpret_cast<JpegErrorManager*>(cinfo->err);
}

// Replaces libjpeg's default, which prints the message and calls exit().
[[noreturn]] void on_jpeg_error(j_common_ptr cinfo) {
  JpegErrorManager* manager = error_manager(cinfo);
  (*cinfo->err->format_message)(cinfo, manager->message);
  std::longjmp(manager->jump_buffer, 1);
}

// libjpeg only warns about a file that ends early: it pads the data with an end marker and
// decodes the rest as grey. PIL refuses such files ("image file is truncated"), so a premature
// end aborts the decode. Other warnings (e.g. extraneous bytes before a marker) are tolerated
// silently, as PIL does, instead of being printed to stderr.
void on_jpeg_message(j_common_ptr cinfo, int msg_level) {
  constexpr int kWarningLevel = -1;  // libjpeg's msg_level for corrupt-data warnings
  if (msg_level == kWarningLevel && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    JpegErrorManager* manager = error_manager(cinfo);
    manager->truncated = true;
    std::longjmp(manager->jump_buffer, 1);
  }
}

/// Owns the decompressor; jpeg_destroy_decompress is safe on a zeroed or half-created one.
struct JpegDecoder {
  jpeg_decompress_struct cinfo{};
  JpegErrorManager errors{};

  JpegDecoder() {
    cinfo.err = jpeg_std_error(&errors.base);
    errors.base.error_exit = on_jpeg_error;
    errors.base.emit_message = on_jpeg_message;
  }
  ~JpegDecoder() { jpeg_destroy_decompress(&cinfo); }
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  std::string failure() const {
    if (errors.truncated) return "truncated JPEG data";
    return std::string("corrupt JPEG data: ") + errors.message;
  }
};

/// Reduced DCT scales libjpeg-turbo decodes fast, largest reduction first.
constexpr unsigned kDctScaleDenominators[] = {8, 4, 2};

// Phase 1: reads the header and chooses the output colour space and scale. Returns false after
// a libjpeg error; no local here has a destructor that the longjmp could skip.
bool read_jpeg_header(JpegDecoder* decoder, const std::uint8_t* data, std::size_t size,
                      const DecodeOptions& options) {
  jpeg_decompress_struct* cinfo = &decoder->cinfo;
  if (setjmp(decoder->errors.jump_buffer) != 0) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  constexpr unsigned kMaxMarkerBytes = 0xFFFF;
  if (options.exif_orientation) jpeg_save_markers(cinfo, JPEG_APP0 + 1, kMaxMarkerBytes);
  jpeg_read_header(cinfo, /*require_image=*/TRUE);
  // libjpeg converts grey and YCbCr to RGB itself, but not CMYK, and it turns YCCK into CMYK.
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  if (options.min_side > 0) {
    const auto min_side = static_cast<JDIMENSION>(options.min_side);
    for (unsigned denominator : kDctScaleDenominators) {
      cinfo->scale_num = 1;
      cinfo->scale_denom = denominator;
      jpeg_calc_output_dimensions(cinfo);
      if (cinfo->output_width >= min_side && cinfo->output_height >= min_side) break;
      cinfo->scale_denom = 1;  // no reduction keeps both sides large enough
    }
  }
  jpeg_calc_output_dimensions(cinfo);
  return true;
}

/// The orientation in the first EXIF APP1 segment that jpeg_save_markers kept; 1 if none.
int jpeg_orientation(const jpeg_decompress_struct& cinfo) {
  for (jpeg_saved_marker_ptr marker = cinfo.marker_list; marker != nullptr; marker = marker->next) {
    if (marker->marker != JPEG_APP0 + 1) continue;
    const int orientation = jpeg_app1_orientation(marker->data, marker->data_length);
    if (orientation != 1) return orientation;
  }
  return 1;
}

// Phase 2: decodes every row into `out`, sized for the output dimensions of phase 1.
bool read_jpeg_rows(JpegDecoder* decoder, std::uint8_t* out, std::size_t row_bytes) {
  jpeg_decompress_struct* cinfo = &decoder->cinfo;
  if (setjmp(decoder->errors.jump_buffer) != 0) return false;
  jpeg_start_decompress(cinfo);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out + static_cast<std::size_t>(cinfo->output_scanline) * row_bytes;
    jpeg_read_scanlines(cinfo, &row, /*max_lines=*/1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

// PIL reads every CMYK JPEG as inverted (Adobe) CMYK, the way Photoshop writes them, where a
// stored 255 means no ink; its CMYK to RGB conversion then gives R = C * K / 255, rounded.
std::vector<std::uint8_t> inverted_cmyk_to_rgb(const std::vector<std::uint8_t>& cmyk) {
  const std::size_t pixel_count = cmyk.size() / kCmykChannels;
  std::vector<std::uint8_t> rgb(pixel_count * kRgbChannels);
  for (std::size_t i = 0; i < pixel_count; ++i) {
    const int k = cmyk[i * kCmykChannels + kRgbChannels];  // K follows C, M and Y
    for (int c = 0; c < kRgbChannels; ++c) {
      const int ink = cmyk[i * kCmykChannels + static_cast<std::size_t>(c)];
      rgb[i * kRgbChannels + static_cast<std::size_t>(c)] =
          static_cast<std::uint8_t>((ink * k + kMaxSample / 2) / kMaxSample);
    }
  }
  return rgb;
}

Image decode_jpeg(const std::uint8_t* data, std::size_t size, const DecodeOptions& options) {
  JpegDecoder decoder;
  if (!read_jpeg_header(&decoder, data, size, options)) throw DataError(decoder.failure());
  const jpeg_decompress_struct& cinfo = decoder.cinfo;
  // The stored size bounds libjpeg's own buffers, whatever the DCT scale (a progressive file
  // keeps every coefficient: 6 bytes a pixel at most, 1 GB at kMaxImagePixels). A 449-byte
  // file claiming 3 billion pixels took seconds and gigabytes before this check.
  check_dimensions(cinfo.image_width, cinfo.image_height);
  // Read now: jpeg_finish_decompress frees the saved markers.
  const int orientation = jpeg_orientation(cinfo);
  check_dimensions(cinfo.output_width, cinfo.output_height);

  const auto components = static_cast<std::size_t>(cinfo.output_components);
  const std::size_t row_bytes = cinfo.output_width * components;
  std::vector<std::uint8_t> samples(row_bytes * cinfo.output_height);
  if (!read_jpeg_rows(&decoder, samples.data(), row_bytes)) throw DataError(decoder.failure());

  Image image;
  image.width = static_cast<int>(cinfo.output_width);
  image.height = static_cast<int>(cinfo.output_height);
  if (cinfo.out_color_space == JCS_CMYK) {
    image.pixels = inverted_cmyk_to_rgb(samples);
  } else {
    image.pixels = std::move(samples);
  }
  return apply_orientation(std::move(image), orientation);
}

// PNG decoding.
//
// Not libpng's simplified API (png_image_*): it converts colours to sRGB using the file's gAMA
// chunk (a file with gAMA 1.0 reads 100 as 167), reads 16-bit files as linear light unless told
// otherwise, and composites alpha onto a background when RGB is requested. PIL does none of
// that, so the classic API is used with only these transformations:
//  - palette to RGB, grey below 8 bits scaled to 0..255 (1-bit 1 -> 255, 4-bit 15 -> 255);
//  - 16-bit samples to their high byte (value >> 8), as PIL does for RGB(A) and grey+alpha.
//    PIL opens 16-bit grey as mode "I" and its convert("RGB") clips at 255, which turns most
//    such images white; the high byte is taken there too, on purpose;
//  - alpha and tRNS transparency dropped, the stored colour kept (not premultiplied);
//  - grey copied to R, G and B; Adam7 interlacing undone.
// No gamma transformation is requested, so gAMA, sRGB, cHRM and iCCP chunks leave pixels alone.

/// Where libpng's callbacks read from and report to, reached through its io and error pointers.
struct PngSource {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::size_t offset = 0;
  bool truncated = false;
  char message[kPngMessageCapacity] = {};
};

// Replaces libpng's default, which prints the message before jumping.
[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->message, sizeof(source->message), "%s", message);
  png_longjmp(png, 1);
}

// Warnings are about ancillary chunks (e.g. "iCCP: known incorrect sRGB profile") that do not
// change the pixels; PIL ignores them too, so they are not printed.
void on_png_warning(png_structp /*png*/, png_const_charp /*message*/) {}

void read_png_bytes(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (length > source->size - source->offset) {
    source->truncated = true;
    png_error(png, "truncated PNG data");
  }
  std::memcpy(out, source->data + source->offset, length);
  source->offset += length;
}

/// Owns the read and info structs, and the source their callbacks use.
struct PngDecoder {
  PngSource source;
  png_structp png = nullptr;
  png_infop info = nullptr;

  PngDecoder(const std::uint8_t* data, std::size_t size) {
    source.data = data;
    source.size = size;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, on_png_error, on_png_warning);
    if (png != nullptr) info = png_create_info_struct(png);
    if (png == nullptr || info == nullptr) {
      png_destroy_read_struct(&png, &info, nullptr);
      throw std::runtime_error("libpng cannot create a reader (out of memory or version mismatch)");
    }
    png_set_read_fn(png, &source, read_png_bytes);
  }
  ~PngDecoder() { png_destroy_read_struct(&png, &info, nullptr); }
  PngDecoder(const PngDecoder&) = delete;
  PngDecoder& operator=(const PngDecoder&) = delete;

  std::string failure() const {
    if (source.truncated) return "truncated PNG data";
    return std::string("corrupt PNG data: ") + source.message;
  }
};

/// What libpng will produce once the transformations are set.
struct PngLayout {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int channels = 0;
  int bit_depth = 0;
  int passes = 0;
  int orientation = 1;  // from an eXIf chunk before the image data
};

// Phase 1: reads the chunks before the image data and sets up the conversion to 8-bit RGB.
// Returns false after a libpng error; no local here has a destructor the longjmp could skip.
bool read_png_header(PngDecoder* decoder, PngLayout* layout, const DecodeOptions& options) {
  png_structp png = decoder->png;
  png_infop info = decoder->info;
  if (setjmp(png_jmpbuf(png)) != 0) return false;
  png_read_info(png, info);
  png_uint_32 exif_size = 0;
  png_bytep exif = nullptr;
  if (options.exif_orientation && png_get_eXIf_1(png, info, &exif_size, &exif) != 0) {
    layout->orientation = exif_orientation(exif, exif_size);
  }
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  layout->passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->width = png_get_image_width(png, info);
  layout->height = png_get_image_height(png, info);
  layout->channels = png_get_channels(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  return true;
}

// Phase 2: decodes every row (every pass of an interlaced file) into `out`. Later passes fill
// in the pixels the earlier ones left, so each pass reads over the same rows.
bool read_png_rows(PngDecoder* decoder, const PngLayout& layout, std::uint8_t* out,
                   std::size_t row_bytes) {
  png_structp png = decoder->png;
  if (setjmp(png_jmpbuf(png)) != 0) return false;
  for (int pass = 0; pass < layout.passes; ++pass) {
    for (png_uint_32 y = 0; y < layout.height; ++y) {
      png_read_row(png, out + y * row_bytes, /*display_row=*/nullptr);
    }
  }
  // png_read_end is not called: the chunks after the image data cannot change the pixels, and
  // PIL accepts files whose trailing chunks are damaged or missing.
  return true;
}

Image decode_png(const std::uint8_t* data, std::size_t size, const DecodeOptions& options) {
  PngDecoder decoder(data, size);
  PngLayout layout;
  if (!read_png_header(&decoder, &layout, options)) throw DataError(decoder.failure());
  check_dimensions(layout.width, layout.height);
  constexpr int kExpectedBitDepth = 8;
  if (layout.channels != kRgbChannels || layout.bit_depth != kExpectedBitDepth) {
    // The transformations above cover every valid PNG colour type, so this is a libpng surprise.
    throw DataError("unsupported PNG layout: libpng produced " + std::to_string(layout.channels) +
                    " channels of " + std::to_string(layout.bit_depth) + " bits");
  }

  Image image;
  image.width = static_cast<int>(layout.width);
  image.height = static_cast<int>(layout.height);
  const std::size_t row_bytes = static_cast<std::size_t>(layout.width) * kRgbChannels;
  image.pixels.resize(row_bytes * layout.height);
  if (!read_png_rows(&decoder, layout, image.pixels.data(), row_bytes)) {
    throw DataError(decoder.failure());
  }
  return apply_orientation(std::move(image), layout.orientation);
}

// Reading files.

/// Closes a file descriptor when it goes out of scope.
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

/// The system's reason for the last failed call, e.g. "No such file or directory".
std::string last_system_error() { return std::generic_category().message(errno); }

std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  const Descriptor file{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (file.fd < 0) throw DataError(path.string() + ": cannot open file: " + last_system_error());
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) {
    throw DataError(path.string() + ": cannot read file: " + last_system_error());
  }
  if (S_ISDIR(info.st_mode)) {
    throw DataError(path.string() +
                    ": cannot read file: " + std::generic_category().message(EISDIR));
  }
  if (!S_ISREG(info.st_mode)) {
    throw DataError(path.string() + ": not a regular file (a FIFO, socket or device)");
  }
  std::vector<std::uint8_t> bytes;
  bytes.reserve(static_cast<std::size_t>(info.st_size));  // one allocation in the usual case
  std::uint8_t chunk[kReadChunkBytes];
  for (;;) {
    const ssize_t count = ::read(file.fd, chunk, sizeof(chunk));
    if (count == 0) break;
    if (count < 0) {
      if (errno == EINTR) continue;
      throw DataError(path.string() + ": cannot read file: " + last_system_error());
    }
    bytes.insert(bytes.end(), chunk, chunk + count);
  }
  return bytes;
}

}  // namespace

Image decode_image(const std::uint8_t* data, std::size_t size, const DecodeOptions& options) {
  if (size == 0) throw DataError("empty file, not a JPEG or PNG file");
  if (starts_with(data, size, kJpegSignature, sizeof(kJpegSignature))) {
    return decode_jpeg(data, size, options);
  }
  if (starts_with(data, size, kPngSignature, sizeof(kPngSignature))) {
    return decode_png(data, size, options);
  }
  throw DataError("not a JPEG or PNG file");
}

Image read_image(const std::filesystem::path& path, const DecodeOptions& options) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path);
  try {
    return decode_image(bytes.data(), bytes.size(), options);
  } catch (const DataError& error) {
    throw DataError(path.string() + ": " + error.what());
  }
}

std::string image_error_reason(const std::string& message, const std::filesystem::path& path) {
  const std::string prefix = path.string() + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

}  // namespace ftl
