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

/// File jobs (atomic writes, removals) run one at a time, in the order added, on a thread of
/// their own, so that training goes on while a checkpoint reaches the disk: the training thread
/// only waits for the serialisation, or for the disk when `max_queued` jobs are already
/// waiting (each holds its file's bytes: that is the memory bound). The first job that throws
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
