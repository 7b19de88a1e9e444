// lockaudit/cli/process: fork + execvp with exec errors carried back through a close-on-exec pipe.
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace lockaudit::cli {
namespace {

// Runs in the forked child: never returns. Writes errno to `status_fd` when exec fails.
[[noreturn]] void ExecChild(std::vector<char*>& argv, int stdin_fd, int status_fd) {
  if (stdin_fd != -1) dup2(stdin_fd, STDIN_FILENO);
  execvp(argv[0], argv.data());
  const int error = errno;
  [[maybe_unused]] ssize_t written = write(status_fd, &error, sizeof error);
  _exit(127);
}

// Reads the child's exec errno from the status pipe; 0 when exec succeeded (the pipe closed).
int ReadExecError(int status_fd) {
  int error = 0;
  ssize_t got;
  do {
    got = read(status_fd, &error, sizeof error);
  } while (got < 0 && errno == EINTR);
  return got == static_cast<ssize_t>(sizeof error) ? error : 0;
}

}  // namespace

SpawnResult Spawn(const std::vector<std::string>& argv, int stdin_fd) {
  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  signal(SIGCHLD, SIG_DFL);
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) return SpawnResult{.error = errno};
  const pid_t pid = fork();
  if (pid == 0) ExecChild(c_argv, stdin_fd, status_pipe[1]);
  const int fork_error = errno;
  close(status_pipe[1]);
  if (pid < 0) {
    close(status_pipe[0]);
    return SpawnResult{.error = fork_error};
  }
  const int exec_error = ReadExecError(status_pipe[0]);
  close(status_pipe[0]);
  if (exec_error != 0) {
    WaitForExit(pid);
    return SpawnResult{.error = exec_error};
  }
  return SpawnResult{.pid = pid};
}

ProcessExit WaitForExit(pid_t pid) {
  int raw = 0;
  while (waitpid(pid, &raw, 0) < 0) {
    if (errno == EINTR) continue;
    std::cerr << "lockaudit: cannot wait for process " << pid << ": " << std::strerror(errno)
              << "\n";
    return ProcessExit{.status = 1};
  }
  if (WIFSIGNALED(raw)) return ProcessExit{.status = 128 + WTERMSIG(raw), .signal = WTERMSIG(raw)};
  return ProcessExit{.status = WEXITSTATUS(raw)};
}

}  // namespace lockaudit::cli
