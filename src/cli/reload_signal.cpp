#include "reload_signal.h"

#include <atomic>

namespace ftl::cli {
namespace {

// A signal handler can only reach state through a global; it is set here and cleared by
// ReloadSignal::take(), nothing else.
std::atomic<bool> reload_asked{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal flag must be lock-free");

extern "C" void on_reload_signal(int) { reload_asked = true; }

}  // namespace

ReloadSignal::ReloadSignal() {
  reload_asked = false;
  struct sigaction action {};
  action.sa_handler = on_reload_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGHUP, &action, &previous_);
}

ReloadSignal::~ReloadSignal() { sigaction(SIGHUP, &previous_, nullptr); }

bool ReloadSignal::take() { return reload_asked.exchange(false); }

}  // namespace ftl::cli
