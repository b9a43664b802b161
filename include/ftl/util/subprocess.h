// Running another program and collecting what it prints: how ftl export drives the Python and
// Node.js tools it cannot replace (torch.onnx.export, ONNX Runtime).
#pragma once

#include <string>
#include <vector>

namespace ftl {

struct ProcessResult {
  bool started = false;  // false: the program could not be started (see output)
  int exit_code = -1;    // its exit status; 128 + N when signal N ended it
  std::string output;    // its stdout and stderr together, in the order written
};

/// Runs `argv` (argv[0] looked up on PATH when it has no slash) with the caller's environment,
/// waits for it and returns what it printed. Never throws for the program's own failure: a
/// program that is missing or not executable comes back with started false and the reason.
ProcessResult run_process(const std::vector<std::string>& argv);

/// The last non-empty line of a program's output, or "no output": the line a Python traceback
/// or a Node.js error ends on, which says what went wrong.
std::string last_line(const std::string& output);

}  // namespace ftl
