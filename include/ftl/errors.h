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

}  // namespace ftl
