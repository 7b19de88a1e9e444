// lockaudit/cli/process: start a program (fork + execvp) and wait for it, for `lockaudit run` and
// for Graphviz's `dot`. Not thread-safe (the CLI is single-threaded): Spawn resets SIGCHLD to its
// default so that the child can be waited for even when the CLI inherited it ignored.
#ifndef LOCKAUDIT_CLI_PROCESS_H_
#define LOCKAUDIT_CLI_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace lockaudit::cli {

struct SpawnResult {
  pid_t pid = -1;     // the running child; -1 when it could not be started
  int error = 0;      // errno of the failed fork or exec when pid is -1
};

// How the child starts, beyond argv and the current environment.
struct SpawnOptions {
  int stdin_fd = -1;             // becomes its standard input when not -1
  bool null_stdin = false;       // standard input from /dev/null (stdin_fd unset)
  bool null_output = false;      // standard output and error to /dev/null
  bool own_process_group = false;  // a process group of its own (its pid), killable as a whole
  bool no_core = false;          // RLIMIT_CORE 0: no core file if it aborts
  // Variables set in its environment; an empty value unsets the variable.
  std::vector<std::pair<std::string, std::string>> env{};
};

// Starts argv[0] (searched in PATH like execvp) with argv and the current environment, as
// `options` say. An exec failure is reported here, through `error`, not as an exit status of
// the child.
SpawnResult Spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

struct ProcessExit {
  int status = 0;  // shell convention: the exit code, or 128 + the signal that ended the process
  int signal = 0;  // that signal, 0 when the process exited
};

// Waits for the child `pid` to end. If waiting fails (it cannot for a child of Spawn), prints one
// line and returns status 1.
ProcessExit WaitForExit(pid_t pid);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_PROCESS_H_
