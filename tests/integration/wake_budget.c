// wake_budget: the main thread signals a waiter and keeps the mutex for 100 ms afterwards, so the
// woken waiter cannot run for at least that long. Run with LOCKAUDIT_WAKE_BUDGET_MS=20.
// Expected under the shim: one wake_budget.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_ready_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_ready_cv = PTHREAD_COND_INITIALIZER;
static int g_ready;
static int g_waiting;

static void* Waiter(void* arg) {
  (void)arg;
  ITEST_OK(pthread_mutex_lock(&g_ready_mu));
  g_waiting = 1;
  while (!g_ready) ITEST_OK(pthread_cond_wait(&g_ready_cv, &g_ready_mu));
  ITEST_OK(pthread_mutex_unlock(&g_ready_mu));
  return NULL;
}

int main(void) {
  pthread_t t;
  ITEST_OK(pthread_create(&t, NULL, Waiter, NULL));
  for (;;) {
    ITEST_OK(pthread_mutex_lock(&g_ready_mu));
    if (g_waiting) break;  // the waiter is inside pthread_cond_wait (it released the mutex)
    ITEST_OK(pthread_mutex_unlock(&g_ready_mu));
    itest_sleep_ms(1);
  }
  g_ready = 1;
  ITEST_OK(pthread_cond_signal(&g_ready_cv));
  itest_sleep_ms(100);  // still holding the mutex: the woken waiter waits for it
  ITEST_OK(pthread_mutex_unlock(&g_ready_mu));
  ITEST_OK(pthread_join(t, NULL));
  return 0;
}
