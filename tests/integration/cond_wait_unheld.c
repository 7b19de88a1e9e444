// cond_wait_unheld: pthread_cond_wait on an error-checking mutex that the thread does not hold
// returns EPERM and leaves the mutex unlocked (issue 19, defect 11). The engine must not record
// the mutex as held then: the program's next lock of it is not a double_lock, and its unlock is
// not an unlock_not_held. Expected under the shim: no finding at all.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "itest.h"

static pthread_mutex_t g_unheld_mu;
static pthread_cond_t g_unheld_cv = PTHREAD_COND_INITIALIZER;

int main(void) {
  pthread_mutexattr_t attr;
  ITEST_OK(pthread_mutexattr_init(&attr));
  ITEST_OK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK));
  ITEST_OK(pthread_mutex_init(&g_unheld_mu, &attr));
  if (pthread_cond_wait(&g_unheld_cv, &g_unheld_mu) != EPERM) return 3;
  struct timespec past = {0, 0};
  if (pthread_cond_timedwait(&g_unheld_cv, &g_unheld_mu, &past) != EPERM) return 4;
  for (int i = 0; i < 3; ++i) {  // the mutex is free: lock and unlock work as usual
    ITEST_OK(pthread_mutex_lock(&g_unheld_mu));
    ITEST_OK(pthread_mutex_unlock(&g_unheld_mu));
  }
  ITEST_OK(pthread_mutex_destroy(&g_unheld_mu));
  return 0;
}
