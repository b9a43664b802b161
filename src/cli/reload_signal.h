// SIGHUP during `ftl serve`: the daemon convention for "read your files again". Each one asks
// the server to reload its checkpoint once.
#pragma once

#include <csignal>

namespace ftl::cli {

/// Installs the handler for its lifetime and restores the previous one after.
class ReloadSignal {
 public:
  ReloadSignal();
  ~ReloadSignal();
  ReloadSignal(const ReloadSignal&) = delete;
  ReloadSignal& operator=(const ReloadSignal&) = delete;

  /// True once for every SIGHUP received since the last call (several in a row count as one).
  bool take();

 private:
  struct sigaction previous_ {};
};

}  // namespace ftl::cli
