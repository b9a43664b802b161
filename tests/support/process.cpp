#include "support/process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/fixtures.h"
#include "support/free_port.h"

namespace ftl::testing {

namespace {

/// How often a file is looked at while a process is waited for.
constexpr std::chrono::milliseconds kPollInterval{2};

ino_t inode_of(const std::filesystem::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? info.st_ino : 0;
}

int decode_status(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
}

}  // namespace

pid_t spawn_ftl(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> all = {kFtlBinary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : all) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int err = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int out = ::open("/dev/null", O_WRONLY);
    ::dup2(err, STDERR_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

std::vector<pid_t> spawn_two_ranks(const std::filesystem::path& dir,
                                   std::vector<std::string> command) {
  const std::string port = std::to_string(free_port());
  command.insert(command.end(), {"--world-size", "2", "--master-port", port, "--rank"});
  std::vector<pid_t> ranks;
  for (const std::string rank : {"0", "1"}) {
    command.push_back(rank);
    ranks.push_back(spawn_ftl(command, dir / ("rank" + rank + ".log")));
    command.pop_back();
  }
  return ranks;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) != pid) {
  }
  return decode_status(status);
}

int exit_code_if_ended(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == pid ? decode_status(status) : -1;
}

int wait_for_new_file(pid_t pid, const std::filesystem::path& path) {
  const ino_t before = inode_of(path);
  for (;;) {
    const ino_t now = inode_of(path);
    if (now != 0 && now != before) return -1;
    const int exit_code = exit_code_if_ended(pid);
    if (exit_code != -1) return exit_code;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace ftl::testing
