// lockaudit/cli/process: start a program (fork + execvp) and wait for it, for `lockaudit run` and
// for Graphviz's `dot`. Not thread-safe (the CLI is single-threaded): Spawn resets SIGCHLD to its
// default so that the child can be waited for even when the CLI inherited it ignored.
#ifndef LOCKAUDIT_CLI_PROCESS_H_
#define LOCKAUDIT_CLI_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace lockaudit::cli {

struct SpawnResult {
  pid_t pid = -1;     // the running child; -1 when it could not be started
  int error = 0;      // errno of the failed fork or exec when pid is -1
};

// Starts argv[0] (searched in PATH like execvp) with argv and the current environment. When
// `stdin_fd` is not -1 it becomes the child's standard input. An exec failure is reported here,
// through `error`, not as an exit status of the child.
SpawnResult Spawn(const std::vector<std::string>& argv, int stdin_fd = -1);

struct ProcessExit {
  int status = 0;  // shell convention: the exit code, or 128 + the signal that ended the process
  int signal = 0;  // that signal, 0 when the process exited
};

// Waits for the child `pid` to end. If waiting fails (it cannot for a child of Spawn), prints one
// line and returns status 1.
ProcessExit WaitForExit(pid_t pid);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_PROCESS_H_
