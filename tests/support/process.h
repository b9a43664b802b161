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

/// Ranks 0 and 1 of a 2-process data-parallel run of `command` (finetune and its arguments),
/// started by hand on loopback with a fresh port, each logging to dir/rankN.log.
std::vector<pid_t> spawn_two_ranks(const std::filesystem::path& dir,
                                   std::vector<std::string> command);

/// Waits for `pid` to end; returns its exit code, or 128 + the signal that ended it, as shells
/// report it.
int wait_exit_code(pid_t pid);

/// The exit code as wait_exit_code reports it if `pid` has ended, or -1 while it runs.
int exit_code_if_ended(pid_t pid);

/// Waits until `path` is replaced (a new inode: ftl writes a file whole and renames it over
/// the old one) while `pid` runs: returns -1 then, or `pid`'s exit code if it ended first.
int wait_for_new_file(pid_t pid, const std::filesystem::path& path);

}  // namespace ftl::testing
