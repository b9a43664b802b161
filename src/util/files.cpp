#include "ftl/util/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "ftl/util/errors.h"

namespace fs = std::filesystem;

namespace ftl {
namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& what, int error_number) {
  throw IoError(path.string() + ": " + what + ": " + std::strerror(error_number));
}

// Writes every byte; returns 0, or the errno of the write that failed.
int write_bytes(int fd, const char* data, std::size_t left) {
  while (left > 0) {
    const ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += written;
    left -= static_cast<std::size_t>(written);
  }
  return 0;
}

}  // namespace

fs::path atomic_temporary(const fs::path& path) {
  // Unique within the process too: a file may be written again while its previous temporary
  // still waits for commit_temporary on a BackgroundWriter.
  static std::atomic<std::uint64_t> sequence{0};
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  return folder / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                   std::to_string(sequence++));
}

ScopedTemporary::~ScopedTemporary() {
  std::error_code ignored;  // already renamed into place, or never written: nothing to remove
  fs::remove(path_, ignored);
}

void commit_temporary(const fs::path& temp, const fs::path& path) {
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open " + temp.filename().string(), errno);
  if (::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    fail(path, "fsync failed", saved);
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
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void link_or_copy(const fs::path& source, const fs::path& file, const fs::path& named) {
  std::error_code error;
  fs::create_hard_link(source, file, error);
  if (!error) return;
  fs::copy_file(source, file, fs::copy_options::overwrite_existing, error);
  if (error) {
    std::error_code ignored;
    fs::remove(file, ignored);
    throw IoError(named.string() + ": cannot copy " + source.string() + ": " + error.message());
  }
}

void write_file_streamed(const fs::path& file, const std::function<void(const ByteSink&)>& produce,
                         const fs::path& named) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(named, "cannot create " + file.filename().string(), errno);
  int error = 0;
  try {
    produce([fd, &error](const void* data, std::size_t size) {
      if (error == 0) error = write_bytes(fd, static_cast<const char*>(data), size);
    });
  } catch (...) {
    ::close(fd);
    ::unlink(file.c_str());
    throw;
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    ::unlink(file.c_str());
    fail(named, "write failed", error);
  }
}

void write_file_atomic(const fs::path& path, const std::string& contents) {
  const fs::path temp = atomic_temporary(path);
  write_file_streamed(
      temp, [&contents](const ByteSink& sink) { sink(contents.data(), contents.size()); }, path);
  commit_temporary(temp, path);
}

BackgroundWriter::BackgroundWriter(std::size_t max_queued)
    : max_queued_(max_queued), thread_([this] { work(); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BackgroundWriter::rethrow_failure() {
  if (!failure_) return;
  std::exception_ptr failure = failure_;
  failure_ = nullptr;  // reported once; the jobs queued after it were dropped
  std::rethrow_exception(failure);
}

void BackgroundWriter::add(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return failure_ || jobs_.size() < max_queued_; });
  rethrow_failure();
  jobs_.push_back(std::move(job));
  changed_.notify_all();
}

void BackgroundWriter::check() {
  std::lock_guard<std::mutex> lock(mutex_);
  rethrow_failure();
}

void BackgroundWriter::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return failure_ || (jobs_.empty() && !running_); });
  rethrow_failure();
}

void BackgroundWriter::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left to write
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    running_ = true;
    lock.unlock();
    std::exception_ptr failure;
    try {
      job();
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    running_ = false;
    if (failure) {
      failure_ = failure;
      jobs_.clear();
    }
    changed_.notify_all();
  }
}

}  // namespace ftl
