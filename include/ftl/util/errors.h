// Error types of the core library. Each carries its context (path, key, value) in what(),
// so that main can print it as one line and map its type to an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace ftl {

/// The caller's choice that an error is about. The core names no command-line flags: it tags
/// the error with the choice, and a front end words what to type (the CLI: error_text.cpp).
enum class Choice {
  kNone,
  kResume,                // continuing the run in output.dir, which holds none to continue
  kResumeNeedsOverwrite,  // continuing it, where only replacing it can go on
  kResumeOrOverwrite,     // output.dir already holds a run: continue it or replace it
  kOverwriteToChange,     // a setting that only a replaced (or new) run may change
  kOverride,              // a "key=value" override of the config
  kOverwriteOutput,       // an output file exists, which only replacing it can go on from
};

/// The base of the core's errors: a message in the core's own terms and the choice it is about.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, Choice choice = Choice::kNone)
      : std::runtime_error(message), choice_(choice) {}
  Choice choice() const { return choice_; }

 private:
  Choice choice_;
};

/// A config file, a --set override or a command-line value is wrong: exit code 2.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// The data cannot be used: missing folder, corrupt image, class mismatch: exit code 1.
class DataError : public Error {
 public:
  using Error::Error;
};

/// The model or checkpoint file cannot be used as ftl needs it: exit code 1.
class ModelError : public Error {
 public:
  using Error::Error;
};

/// Reading or writing a file failed (disk full, permission denied): exit code 1.
class IoError : public Error {
 public:
  using Error::Error;
};

/// Training went wrong in a way no setting could have caught beforehand, such as a loss that
/// became NaN or infinite: exit code 1. The last good checkpoint is kept.
class TrainingError : public Error {
 public:
  using Error::Error;
};

/// A distributed run lost a rank: a peer that did not arrive, died, or stopped answering
/// within dist.timeout_s. Exit code 1, on every rank that noticed.
class DistributedError : public Error {
 public:
  using Error::Error;
};

/// The run was stopped by a signal (SIGINT, SIGTERM) after saving its resume state:
/// exit code 128 + signal, as shells report a process killed by that signal.
class Interrupted : public Error {
 public:
  Interrupted(int signal_number, std::string run_dir, const std::string& message)
      : Error(message), signal_number_(signal_number), run_dir_(std::move(run_dir)) {}
  int signal_number() const { return signal_number_; }
  /// The run folder whose resume state was saved.
  const std::string& run_dir() const { return run_dir_; }

 private:
  int signal_number_;
  std::string run_dir_;
};

}  // namespace ftl
