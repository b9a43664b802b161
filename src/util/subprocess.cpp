#include "ftl/util/subprocess.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace ftl {
namespace {

constexpr std::size_t kReadChunk = 4096;
constexpr int kSignalBase = 128;  // as shells report a program ended by a signal

// Closes both ends of a pipe that is no longer needed, once.
struct Pipe {
  std::array<int, 2> ends = {-1, -1};
  ~Pipe() {
    for (const int end : ends) {
      if (end >= 0) ::close(end);
    }
  }
  void close_end(std::size_t which) {
    ::close(ends[which]);
    ends[which] = -1;
  }
};

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv) {
  ProcessResult result;
  if (argv.empty()) {
    result.output = "no program given";
    return result;
  }
  Pipe pipe;
  if (::pipe(pipe.ends.data()) != 0) {
    result.output = std::string("cannot create a pipe: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, pipe.ends[0]);
  posix_spawn_file_actions_adddup2(&actions, pipe.ends[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe.ends[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe.ends[1]);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  pipe.close_end(1);  // the child holds its own copy; EOF comes when it exits
  if (spawned != 0) {
    result.output = argv[0] + ": " + std::strerror(spawned);
    return result;
  }
  result.started = true;
  std::array<char, kReadChunk> chunk{};
  for (;;) {
    const ssize_t got = ::read(pipe.ends[0], chunk.data(), chunk.size());
    if (got > 0) {
      result.output.append(chunk.data(), static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                     : WIFSIGNALED(status) ? kSignalBase + WTERMSIG(status)
                                           : -1;
  return result;
}

std::string last_line(const std::string& output) {
  const std::size_t end = output.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "no output";
  const std::size_t newline = output.rfind('\n', end);
  const std::size_t start = newline == std::string::npos ? 0 : newline + 1;
  return output.substr(start, end + 1 - start);
}

}  // namespace ftl
