#include "ftl/model/archive.h"

#include <zip.h>

#include <array>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ftl/util/errors.h"

namespace fs = std::filesystem;

namespace ftl {

namespace {

/// The signature every zip archive starts with (a local file header).
constexpr std::array<char, 4> kZipMagic = {'P', 'K', '\x03', '\x04'};
/// Read in pieces: a checkpoint's weights are tens of megabytes.
constexpr std::size_t kReadChunk = std::size_t{1} << 20;

struct ArchiveCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
struct EntryCloser {
  void operator()(zip_file_t* entry) const { zip_fclose(entry); }
};

bool starts_like_zip(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, kZipMagic.size()> head{};
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return in.gcount() == static_cast<std::streamsize>(head.size()) && head == kZipMagic;
}

std::string damaged(const fs::path& path, const std::string& what) {
  return path.string() + ": damaged file: " + what +
         " (its bytes changed after it was written: a failing disk, or a copy cut short); "
         "use another copy";
}

}  // namespace

void verify_archive(const fs::path& path) {
  if (!starts_like_zip(path)) return;
  int open_error = 0;
  // ZIP_CHECKCONS also compares every entry's local header with the central directory.
  const std::unique_ptr<zip_t, ArchiveCloser> archive(
      zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &open_error));
  if (!archive) {
    zip_error_t error;
    zip_error_init_with_code(&error, open_error);
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    throw ModelError(damaged(path, "not a readable zip archive: " + reason));
  }
  const zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  std::vector<char> buffer(kReadChunk);
  for (zip_int64_t index = 0; index < entries; ++index) {
    const auto entry_index = static_cast<zip_uint64_t>(index);
    const char* raw_name = zip_get_name(archive.get(), entry_index, 0);
    const std::string name = raw_name != nullptr ? raw_name : "#" + std::to_string(index);
    const std::unique_ptr<zip_file_t, EntryCloser> entry(
        zip_fopen_index(archive.get(), entry_index, 0));
    if (!entry) {
      throw ModelError(damaged(path, "entry '" + name + "': " + zip_strerror(archive.get())));
    }
    // libzip checks the size and the CRC-32 when the entry has been read to its end.
    zip_int64_t got = 0;
    do {
      got = zip_fread(entry.get(), buffer.data(), buffer.size());
    } while (got > 0);
    if (got < 0) {
      throw ModelError(damaged(path, "entry '" + name + "' fails its check: " +
                                         zip_error_strerror(zip_file_get_error(entry.get()))));
    }
  }
}

}  // namespace ftl
