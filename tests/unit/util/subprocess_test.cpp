// Running another program: its output and status, and a program that is not there.
#include "ftl/util/subprocess.h"

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;

TEST_CASE("subprocess: output of both streams, in order, and the exit status", "[subprocess]") {
  const ftl::ProcessResult result =
      ftl::run_process({"sh", "-c", "echo one; echo two >&2; echo three; exit 4"});
  CHECK(result.started);
  CHECK(result.exit_code == 4);
  CHECK(result.output == "one\ntwo\nthree\n");
  CHECK(ftl::last_line(result.output) == "three");
}

TEST_CASE("subprocess: a signal is reported as shells report it", "[subprocess]") {
  const ftl::ProcessResult result = ftl::run_process({"sh", "-c", "kill -TERM $$"});
  CHECK(result.started);
  CHECK(result.exit_code == 128 + 15);
}

TEST_CASE("subprocess: a missing program is not started and says why", "[subprocess]") {
  const ftl::ProcessResult result = ftl::run_process({"/nonexistent/python3", "-c", "1"});
  CHECK_FALSE(result.started);
  CHECK(result.output == "/nonexistent/python3: No such file or directory");
  CHECK_FALSE(ftl::run_process({}).started);
}

TEST_CASE("subprocess: the last line skips trailing blank lines", "[subprocess]") {
  CHECK(ftl::last_line("Traceback:\n  x\nValueError: bad\n\n  \n") == "ValueError: bad");
  CHECK(ftl::last_line("single") == "single");
  CHECK(ftl::last_line(" \n\n") == "no output");
}
