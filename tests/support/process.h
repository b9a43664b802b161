// Child processes of the ftl executable for tests that signal it or time it: started without
// a shell in between, so that a signal reaches ftl itself.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ftl::testing {

/// Starts the ftl executable with `args`; its stdout goes to /dev/null and its stderr is
/// appended to `log`.
pid_t spawn_ftl(const std::vector<std::string>& args, const std::filesystem::path& log);

/// Waits for `pid` to end; returns its exit code, or 128 + the signal that ended it, as shells
/// report it.
int wait_exit_code(pid_t pid);

/// The exit code as wait_exit_code reports it if `pid` has ended, or -1 while it runs.
int exit_code_if_ended(pid_t pid);

}  // namespace ftl::testing
