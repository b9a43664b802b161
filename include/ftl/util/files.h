// Durable file writes: results that a later step depends on are replaced whole or not at all.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ftl {

/// Writes `contents` to a temporary file beside `path`, fsyncs it, renames it over `path`
/// and fsyncs the folder. On any failure (a full disk, no permission) the temporary file is
/// removed, `path` keeps its previous contents, and IoError names the path and the reason.
void write_file_atomic(const std::filesystem::path& path, const std::string& contents);

/// The two halves of write_file_atomic, for writers that produce the file themselves (as
/// TorchScript's save does, faster than into memory): the hidden temporary name beside `path`
/// to write to (unique per call), then commit_temporary, which fsyncs it, renames it over
/// `path` and fsyncs the folder. On failure it removes the temporary and IoError names `path`.
std::filesystem::path atomic_temporary(const std::filesystem::path& path);
void commit_temporary(const std::filesystem::path& temp, const std::filesystem::path& path);

/// A hidden file name beside `path` (atomic_temporary's) that is removed, with whatever was
/// written to it, when this goes out of scope: the scratch and not-yet-committed files of a
/// step that must leave nothing behind when it fails.
class ScopedTemporary {
 public:
  explicit ScopedTemporary(const std::filesystem::path& path) : path_(atomic_temporary(path)) {}
  ~ScopedTemporary();
  ScopedTemporary(const ScopedTemporary&) = delete;
  ScopedTemporary& operator=(const ScopedTemporary&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Makes `file` hold the bytes of `source` without writing them again where it can: a hard
/// link (the same file under a second name), else a copy, for file systems without links or
/// a `source` on another one. On failure `file` is removed and IoError names `named`.
void link_or_copy(const std::filesystem::path& source, const std::filesystem::path& file,
                  const std::filesystem::path& named);

/// Receives a file's bytes, in order.
using ByteSink = std::function<void(const void* data, std::size_t size)>;

/// Creates `file` (no fsync) and hands `produce` a sink that appends to it. A write that fails
/// (a full disk) is remembered rather than reported to the producer, whose stream must not
/// break (TorchScript's zip writer aborts the process when its sink fails); once `produce`
/// returns, the file is removed and IoError names `named` and the reason.
void write_file_streamed(const std::filesystem::path& file,
                         const std::function<void(const ByteSink&)>& produce,
                         const std::filesystem::path& named);

/// File jobs (atomic writes, removals) run one at a time, in the order added, on a thread of
/// their own, so that training goes on while a checkpoint reaches the disk: the training thread
/// only waits for what it gives each job, or for the disk when `max_queued` jobs are already
/// waiting (which bounds the memory that jobs holding bytes keep). The first job that throws
/// stops the jobs after it, and its error is rethrown by the next add(), check() or wait().
class BackgroundWriter {
 public:
  explicit BackgroundWriter(std::size_t max_queued = 4);
  /// Runs the jobs still queued (what was decided must reach the disk), then ends the thread.
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void add(std::function<void()> job);
  /// Rethrows a failed job's error, without waiting.
  void check();
  /// Returns once every job added has run; rethrows a failed job's error.
  void wait();

 private:
  void work();
  void rethrow_failure();  // with mutex_ held

  const std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> jobs_;
  bool running_ = false;  // a job is being run
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace ftl
