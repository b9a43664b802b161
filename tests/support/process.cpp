#include "support/process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/fixtures.h"

namespace ftl::testing {

namespace {

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

}  // namespace ftl::testing
