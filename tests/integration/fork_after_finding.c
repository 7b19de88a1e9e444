/* fork_after_finding: the parent has a finding (an ABBA in one thread), then forks a child that
 * exits normally. The child must exit 0 (the parent's finding must not force the child's exit
 * code) and must not add a summary line to the parent's report. If the child's status is wrong
 * the parent _exit(3)s, which the exit-code check sees (a normal exit is forced to
 * LOCKAUDIT_EXITCODE by the parent's own finding). */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_fork_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_fork_b = PTHREAD_MUTEX_INITIALIZER;

int main(void) {
  pthread_mutex_lock(&g_fork_a);
  pthread_mutex_lock(&g_fork_b);
  pthread_mutex_unlock(&g_fork_b);
  pthread_mutex_unlock(&g_fork_a);
  pthread_mutex_lock(&g_fork_b);
  pthread_mutex_lock(&g_fork_a);
  pthread_mutex_unlock(&g_fork_a);
  pthread_mutex_unlock(&g_fork_b);
  pid_t pid = fork();
  if (pid == 0) {
    pthread_mutex_lock(&g_fork_a);
    pthread_mutex_unlock(&g_fork_a);
    exit(0); /* runs the engine's exit handler in the child */
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) _exit(3);
  return 0;
}
