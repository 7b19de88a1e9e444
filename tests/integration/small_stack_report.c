// small_stack_report: the lock-order inversion of abba_one_thread, made on a thread created with
// a 64 KiB stack. Reporting it symbolizes with libdw, which needs far more stack than that: the
// engine must do that work elsewhere and the program must run to its end.
// Expected under the shim: one lock_order_cycle naming g_small_a and g_small_b, exit 0.
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_small_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_small_b = PTHREAD_MUTEX_INITIALIZER;

static void* Worker(void* arg) {
  (void)arg;
  ITEST_OK(pthread_mutex_lock(&g_small_a));
  ITEST_OK(pthread_mutex_lock(&g_small_b));
  ITEST_OK(pthread_mutex_unlock(&g_small_b));
  ITEST_OK(pthread_mutex_unlock(&g_small_a));
  ITEST_OK(pthread_mutex_lock(&g_small_b));
  ITEST_OK(pthread_mutex_lock(&g_small_a));  // closes the cycle: reported on this thread
  ITEST_OK(pthread_mutex_unlock(&g_small_a));
  ITEST_OK(pthread_mutex_unlock(&g_small_b));
  return NULL;
}

int main(void) {
  pthread_attr_t attr;
  ITEST_OK(pthread_attr_init(&attr));
  ITEST_OK(pthread_attr_setstacksize(&attr, 64 * 1024));
  pthread_t t;
  ITEST_OK(pthread_create(&t, &attr, Worker, NULL));
  ITEST_OK(pthread_join(t, NULL));
  return 0;
}
