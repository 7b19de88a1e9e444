// cond_mismatch: two threads wait on one condition variable at the same time, each with a
// different mutex (undefined behaviour). The main thread then wakes both.
// Expected under the shim: one cond_mutex_mismatch.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_jobs_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_stats_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_work_cv = PTHREAD_COND_INITIALIZER;
static int g_go;
static int g_waiting;

static void* Waiter(void* arg) {
  pthread_mutex_t* mu = arg;
  ITEST_OK(pthread_mutex_lock(mu));
  __atomic_add_fetch(&g_waiting, 1, __ATOMIC_SEQ_CST);
  while (!__atomic_load_n(&g_go, __ATOMIC_SEQ_CST)) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += 20 * 1000000L;
    if (t.tv_nsec >= 1000000000L) { t.tv_sec += 1; t.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&g_work_cv, mu, &t);
  }
  ITEST_OK(pthread_mutex_unlock(mu));
  return NULL;
}

int main(void) {
  pthread_t a, b;
  ITEST_OK(pthread_create(&a, NULL, Waiter, &g_jobs_mu));
  ITEST_OK(pthread_create(&b, NULL, Waiter, &g_stats_mu));
  while (__atomic_load_n(&g_waiting, __ATOMIC_SEQ_CST) < 2) itest_sleep_ms(1);
  itest_sleep_ms(200);  // both keep re-waiting meanwhile
  __atomic_store_n(&g_go, 1, __ATOMIC_SEQ_CST);
  ITEST_OK(pthread_cond_broadcast(&g_work_cv));
  ITEST_OK(pthread_join(a, NULL));
  ITEST_OK(pthread_join(b, NULL));
  return 0;
}
