// sigwait_server: the shutdown pattern of MariaDB and many servers. The program takes a lock
// early (so the engine starts its threads while no signal is blocked yet), then blocks SIGTERM
// in every thread and waits for it with sigwait() in one thread; kill(getpid(), SIGTERM) must
// reach that thread, which then lets main() return 0. A signal delivered to one of lockaudit's
// threads instead would kill the process or be lost (issue 19, defect 1); the runner's timeout
// catches the loss.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "itest.h"

static pthread_mutex_t g_state_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_conn_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_got_term = 0;

static void* SignalThread(void* arg) {
  sigset_t* set = arg;
  int sig = 0;
  ITEST_OK(sigwait(set, &sig));
  ITEST_OK(pthread_mutex_lock(&g_state_mu));
  g_got_term = sig == SIGTERM;
  ITEST_OK(pthread_mutex_unlock(&g_state_mu));
  return NULL;
}

int main(void) {
  ITEST_OK(pthread_mutex_lock(&g_state_mu));  // before any signal is blocked
  ITEST_OK(pthread_mutex_lock(&g_conn_mu));
  ITEST_OK(pthread_mutex_unlock(&g_conn_mu));
  ITEST_OK(pthread_mutex_unlock(&g_state_mu));
  itest_sleep_ms(50);  // the engine's threads are running now
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  ITEST_OK(pthread_sigmask(SIG_BLOCK, &set, NULL));
  pthread_t t;
  ITEST_OK(pthread_create(&t, NULL, SignalThread, &set));
  itest_sleep_ms(50);
  if (kill(getpid(), SIGTERM) != 0) return 2;
  ITEST_OK(pthread_join(t, NULL));
  return g_got_term ? 0 : 3;
}
