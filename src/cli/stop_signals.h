// SIGINT and SIGTERM during `ftl finetune`: the first asks the run to finish its step, save
// its resume state and stop; a second one ends the process at once.
#pragma once

#include <csignal>

namespace ftl::cli {

/// Installs the handlers for its lifetime and restores the previous ones after.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// The first signal received, or 0.
  int received() const;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

}  // namespace ftl::cli
