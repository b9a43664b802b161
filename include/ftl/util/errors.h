// Error types of the core library. Each carries its context (path, key, value) in what(),
// so that main can print it as one line and map its type to an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace ftl {

/// A config file, a --set override or a command-line value is wrong: exit code 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The data cannot be used: missing folder, corrupt image, class mismatch: exit code 1.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The model or checkpoint file cannot be used as ftl needs it: exit code 1.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reading or writing a file failed (disk full, permission denied): exit code 1.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Training went wrong in a way no setting could have caught beforehand, such as a loss that
/// became NaN or infinite: exit code 1. The last good checkpoint is kept.
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A distributed run lost a rank: a peer that did not arrive, died, or stopped answering
/// within dist.timeout_s. Exit code 1, on every rank that noticed.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The run was stopped by a signal (SIGINT, SIGTERM) after saving its resume state:
/// exit code 128 + signal, as shells report a process killed by that signal.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal_number, std::string run_dir, const std::string& message)
      : std::runtime_error(message), signal_number_(signal_number), run_dir_(std::move(run_dir)) {}
  int signal_number() const { return signal_number_; }
  /// The run folder whose resume state was saved.
  const std::string& run_dir() const { return run_dir_; }

 private:
  int signal_number_;
  std::string run_dir_;
};

}  // namespace ftl
