#include "stop_signals.h"

#include <unistd.h>

namespace ftl::cli {
namespace {

// A signal handler can only reach state through a global; it is written here and read by
// StopSignals::received(), nothing else.
volatile std::sig_atomic_t received_signal = 0;

extern "C" void on_stop_signal(int signal_number) {
  if (received_signal != 0) _exit(128 + signal_number);  // the second one: stop now
  received_signal = signal_number;
}

}  // namespace

StopSignals::StopSignals() {
  received_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopSignals::received() const { return received_signal; }

}  // namespace ftl::cli
