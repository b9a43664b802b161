#include "ftl/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ftl/errors.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& what, int error_number) {
  throw IoError(path.string() + ": " + what + ": " + std::strerror(error_number));
}

void write_all(int fd, const std::string& contents, const fs::path& path) {
  const char* data = contents.data();
  std::size_t left = contents.size();
  while (left > 0) {
    const ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail(path, "write failed", errno);
    }
    data += written;
    left -= static_cast<std::size_t>(written);
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& contents) {
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const fs::path temp =
      folder / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create " + temp.filename().string(), errno);
  try {
    write_all(fd, contents, path);
    if (::fsync(fd) != 0) fail(path, "fsync failed", errno);
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    fail(path, "close failed", saved);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    fail(path, "cannot replace the file", saved);
  }
  // The rename is durable only once the folder's entry is on disk.
  const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace ftl
