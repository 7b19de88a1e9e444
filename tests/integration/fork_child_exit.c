// fork_child_exit: a forked child runs the atexit handlers (exit(), not _exit()) and must end;
// with the Prometheus exporter on, the child has a copy of the server but none of its threads
// (issue 19, defect 8). The parent waits for the child and returns its status.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

static pthread_mutex_t g_child_mu = PTHREAD_MUTEX_INITIALIZER;

int main(void) {
  ITEST_OK(pthread_mutex_lock(&g_child_mu));
  ITEST_OK(pthread_mutex_unlock(&g_child_mu));
  // A program that runs a while: the exporter's server is up (and between two of its polls)
  // when the program forks and when it exits.
  struct timespec pause = {0, 300000000};
  nanosleep(&pause, NULL);
  pid_t pid = fork();
  if (pid < 0) return 2;
  if (pid == 0) {
    ITEST_OK(pthread_mutex_lock(&g_child_mu));
    ITEST_OK(pthread_mutex_unlock(&g_child_mu));
    exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 2;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
}
