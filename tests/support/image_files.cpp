// libpng and libjpeg report errors by calling a handler that must not return; as in
// src/core/image.cpp, the handlers longjmp back into a small function that holds no C++ object
// with a destructor, and the caller throws once the library is out of the way.
#include "support/image_files.h"

#include <cerrno>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

// clang-format off
// jpeglib.h uses FILE and size_t without including their headers, so <cstdio> goes first.
#include <cstdio>
#include <jpeglib.h>
// clang-format on
#include <png.h>

namespace ftl::testing {
namespace {

/// The one level of write_grey_png's images.
constexpr std::uint16_t kFlatGrey = 7;
/// Room for a libpng error message.
constexpr std::size_t kPngMessageCapacity = 256;
/// Bit depths below this are packed several samples to a byte.
constexpr int kBitsPerByte = 8;
/// The PNG bit depth whose samples take two bytes.
constexpr int kWideBitDepth = 16;
/// Samples per pixel of a CMYK image.
constexpr int kCmykChannels = 4;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File create_file(const std::filesystem::path& path) {
  File file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    throw std::runtime_error(path.string() +
                             ": cannot create file: " + std::generic_category().message(errno));
  }
  return file;
}

void close_file(File file, const std::filesystem::path& path) {
  if (std::fclose(file.release()) != 0) {
    throw std::runtime_error(path.string() +
                             ": cannot write file: " + std::generic_category().message(errno));
  }
}

void require(bool condition, const std::filesystem::path& path, const std::string& what) {
  if (!condition) throw std::invalid_argument(path.string() + ": " + what);
}

std::size_t sample_count(int width, int height, int channels) {
  return static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
         static_cast<std::size_t>(channels);
}

// PNG writing.

struct PngErrors {
  char message[kPngMessageCapacity] = {};
};

[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  auto* errors = static_cast<PngErrors*>(png_get_error_ptr(png));
  std::snprintf(errors->message, sizeof(errors->message), "%s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp /*png*/, png_const_charp /*message*/) {}

/// What goes into IHDR and the optional chunks.
struct PngHeader {
  int width = 0;
  int height = 0;
  int bit_depth = 8;
  int color_type = PNG_COLOR_TYPE_GRAY;
  bool interlaced = false;
  double gamma = 0.0;                   // no gAMA chunk when 0
  std::vector<png_color> palette;       // PLTE, for palette images
  std::vector<png_byte> palette_alpha;  // tRNS, when not empty
};

/// Owns a write struct and its info struct.
struct PngWriter {
  PngErrors errors;
  png_structp png = nullptr;
  png_infop info = nullptr;

  PngWriter() {
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors, on_png_error, on_png_warning);
    if (png != nullptr) info = png_create_info_struct(png);
    if (png == nullptr || info == nullptr) {
      png_destroy_write_struct(&png, &info);
      throw std::runtime_error("libpng cannot create a writer");
    }
  }
  ~PngWriter() { png_destroy_write_struct(&png, &info); }
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;
};

// Every libpng call of one file; returns false after a libpng error.
bool write_png_chunks(PngWriter* writer, std::FILE* file, const PngHeader& header,
                      png_bytepp rows) {
  png_structp png = writer->png;
  png_infop info = writer->info;
  if (setjmp(png_jmpbuf(png)) != 0) return false;
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(header.width),
               static_cast<png_uint_32>(header.height), header.bit_depth, header.color_type,
               header.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!header.palette.empty()) {
    png_set_PLTE(png, info, header.palette.data(), static_cast<int>(header.palette.size()));
  }
  if (!header.palette_alpha.empty()) {
    png_set_tRNS(png, info, header.palette_alpha.data(),
                 static_cast<int>(header.palette_alpha.size()), nullptr);
  }
  if (header.gamma > 0.0) png_set_gAMA(png, info, header.gamma);
  png_write_info(png, info);
  // The rows hold one sample per byte; libpng packs them for depths below 8.
  if (header.bit_depth < kBitsPerByte) png_set_packing(png);
  png_write_image(png, rows);  // runs the Adam7 passes itself when interlaced
  png_write_end(png, info);
  return true;
}

/// Writes a PNG whose rows are `row_bytes` apart in `data`, in the layout libpng expects.
void write_png_file(const std::filesystem::path& path, const PngHeader& header,
                    std::vector<png_byte>& data, std::size_t row_bytes) {
  std::vector<png_bytep> rows(static_cast<std::size_t>(header.height));
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = data.data() + y * row_bytes;
  File file = create_file(path);
  PngWriter writer;
  if (!write_png_chunks(&writer, file.get(), header, rows.data())) {
    throw std::runtime_error(path.string() + ": libpng: " + writer.errors.message);
  }
  close_file(std::move(file), path);
}

// JPEG writing.

struct JpegErrors {
  jpeg_error_mgr base;  // first member: libjpeg's pointer to it converts back
  std::jmp_buf jump_buffer;
  char message[JMSG_LENGTH_MAX];
};

// Replaces libjpeg's default, which calls exit().
[[noreturn]] void on_jpeg_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump_buffer, 1);
}

/// Owns a compressor; jpeg_destroy_compress is safe on a zeroed or half-created one.
struct JpegWriter {
  jpeg_compress_struct cinfo{};
  JpegErrors errors{};

  JpegWriter() {
    cinfo.err = jpeg_std_error(&errors.base);
    errors.base.error_exit = on_jpeg_error;
  }
  ~JpegWriter() { jpeg_destroy_compress(&cinfo); }
  JpegWriter(const JpegWriter&) = delete;
  JpegWriter& operator=(const JpegWriter&) = delete;
};

struct JpegSettings {
  int width = 0;
  int height = 0;
  int channels = 0;
  J_COLOR_SPACE input_space = JCS_UNKNOWN;  // what the samples are
  J_COLOR_SPACE file_space = JCS_UNKNOWN;   // what libjpeg stores
  int quality = 0;
};

// Every libjpeg call of one file; returns false after a libjpeg error.
bool compress_jpeg(JpegWriter* writer, std::FILE* file, const JpegSettings& settings,
                   const std::uint8_t* samples) {
  jpeg_compress_struct* cinfo = &writer->cinfo;
  if (setjmp(writer->errors.jump_buffer) != 0) return false;
  jpeg_create_compress(cinfo);
  jpeg_stdio_dest(cinfo, file);
  cinfo->image_width = static_cast<JDIMENSION>(settings.width);
  cinfo->image_height = static_cast<JDIMENSION>(settings.height);
  cinfo->input_components = settings.channels;
  cinfo->in_color_space = settings.input_space;
  jpeg_set_defaults(cinfo);
  // For a CMYK or YCCK file this also makes libjpeg write the Adobe marker.
  jpeg_set_colorspace(cinfo, settings.file_space);
  jpeg_set_quality(cinfo, settings.quality, /*force_baseline=*/TRUE);
  jpeg_start_compress(cinfo, /*write_all_tables=*/TRUE);
  const std::size_t row_bytes = sample_count(settings.width, 1, settings.channels);
  while (cinfo->next_scanline < cinfo->image_height) {
    // libjpeg's row type is not const, but compression only reads the rows.
    auto row = const_cast<JSAMPROW>(samples + cinfo->next_scanline * row_bytes);
    jpeg_write_scanlines(cinfo, &row, /*num_lines=*/1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

void write_jpeg_file(const std::filesystem::path& path, const JpegSettings& settings,
                     const std::vector<std::uint8_t>& samples) {
  require(samples.size() == sample_count(settings.width, settings.height, settings.channels), path,
          "sample count does not match width * height * channels");
  File file = create_file(path);
  JpegWriter writer;
  if (!compress_jpeg(&writer, file.get(), settings, samples.data())) {
    throw std::runtime_error(path.string() + ": libjpeg: " + writer.errors.message);
  }
  close_file(std::move(file), path);
}

}  // namespace

void write_png(const std::filesystem::path& path, int width, int height, int channels,
               const std::vector<std::uint16_t>& samples, const PngOptions& options) {
  static const int kColorTypes[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                    PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  require(channels >= 1 && channels <= 4, path, "channels must be 1 to 4");
  require(samples.size() == sample_count(width, height, channels), path,
          "sample count does not match width * height * channels");
  const int depth = options.bit_depth;
  for (std::uint16_t sample : samples) {
    require(sample < (1 << depth), path, "sample too large for the bit depth");
  }

  PngHeader header;
  header.width = width;
  header.height = height;
  header.bit_depth = depth;
  header.color_type = kColorTypes[channels - 1];
  header.interlaced = options.interlaced;
  header.gamma = options.gamma;

  // PNG stores 16-bit samples big-endian; narrower ones go one to a byte before packing.
  const std::size_t bytes_per_sample = depth == kWideBitDepth ? 2 : 1;
  std::vector<png_byte> data;
  data.reserve(samples.size() * bytes_per_sample);
  for (std::uint16_t sample : samples) {
    if (bytes_per_sample == 2) data.push_back(static_cast<png_byte>(sample >> kBitsPerByte));
    data.push_back(static_cast<png_byte>(sample & 0xFF));
  }
  write_png_file(path, header, data, sample_count(width, 1, channels) * bytes_per_sample);
}

void write_png_palette(const std::filesystem::path& path, int width, int height,
                       const std::vector<PaletteEntry>& palette,
                       const std::vector<std::uint8_t>& indices) {
  require(indices.size() == sample_count(width, height, 1), path,
          "index count does not match width * height");
  PngHeader header;
  header.width = width;
  header.height = height;
  header.color_type = PNG_COLOR_TYPE_PALETTE;
  bool any_transparent = false;
  for (const PaletteEntry& entry : palette) {
    header.palette.push_back(png_color{entry.red, entry.green, entry.blue});
    header.palette_alpha.push_back(entry.alpha);
    any_transparent = any_transparent || entry.alpha != 255;
  }
  if (!any_transparent) header.palette_alpha.clear();
  std::vector<png_byte> data(indices.begin(), indices.end());
  write_png_file(path, header, data, static_cast<std::size_t>(width));
}

void write_jpeg(const std::filesystem::path& path, int width, int height, int channels, int quality,
                const std::vector<std::uint8_t>& pixels) {
  require(channels == 1 || channels == 3, path, "channels must be 1 or 3");
  JpegSettings settings;
  settings.width = width;
  settings.height = height;
  settings.channels = channels;
  settings.input_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  settings.file_space = channels == 1 ? JCS_GRAYSCALE : JCS_YCbCr;
  settings.quality = quality;
  write_jpeg_file(path, settings, pixels);
}

void write_grey_png(const std::filesystem::path& path, int width, int height) {
  std::filesystem::create_directories(path.parent_path());
  write_png(path, width, height, 1,
            std::vector<std::uint16_t>(static_cast<std::size_t>(width * height), kFlatGrey));
}

void write_jpeg_cmyk(const std::filesystem::path& path, int width, int height, int quality,
                     const std::vector<std::uint8_t>& samples, CmykStorage storage) {
  JpegSettings settings;
  settings.width = width;
  settings.height = height;
  settings.channels = kCmykChannels;
  settings.input_space = JCS_CMYK;
  settings.file_space = storage == CmykStorage::kYcck ? JCS_YCCK : JCS_CMYK;
  settings.quality = quality;
  write_jpeg_file(path, settings, samples);
}

}  // namespace ftl::testing
