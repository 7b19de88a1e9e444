// lockaudit/cli/process: fork + execvp with exec errors carried back through a close-on-exec pipe.
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace lockaudit::cli {
namespace {

// Runs in the forked child: never returns. Writes errno to `status_fd` when exec fails.
[[noreturn]] void ExecChild(std::vector<char*>& argv, const SpawnOptions& options, int status_fd) {
  if (options.own_process_group) setpgid(0, 0);
  if (options.no_core) {
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
  }
  for (const auto& [name, value] : options.env) {
    if (value.empty()) {
      unsetenv(name.c_str());
    } else {
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  if (options.stdin_fd != -1) dup2(options.stdin_fd, STDIN_FILENO);
  if (options.null_stdin || options.null_output) {
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      if (options.null_stdin && options.stdin_fd == -1) dup2(null_fd, STDIN_FILENO);
      if (options.null_output) {
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
      }
    }
  }
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

SpawnResult Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  signal(SIGCHLD, SIG_DFL);
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) return SpawnResult{.error = errno};
  const pid_t pid = fork();
  if (pid == 0) ExecChild(c_argv, options, status_pipe[1]);
  if (pid > 0 && options.own_process_group) setpgid(pid, pid);  // also here: no race with kill
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
