#include "stop_signals.h"

#include <unistd.h>

#include <atomic>

namespace ftl::cli {
namespace {

// A signal handler can only reach state through a global; it is written here and read by
// StopSignals::received(), nothing else. The handler may run on any thread (a loader worker),
// so it is a lock-free atomic rather than a volatile sig_atomic_t.
std::atomic<int> received_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be lock-free");

extern "C" void on_stop_signal(int signal_number) {
  int expected = 0;
  if (!received_signal.compare_exchange_strong(expected, signal_number)) {
    _exit(128 + signal_number);  // the second one: stop now
  }
}

}  // namespace

StopSignals::StopSignals() {
  received_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  // Interrupted reads and writes resume instead of failing with EINTR: the run saves first.
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopSignals::received() const { return received_signal.load(); }

}  // namespace ftl::cli
