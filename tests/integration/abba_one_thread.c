// abba_one_thread: one thread takes g_mu_a then g_mu_b, releases both, then takes g_mu_b then
// g_mu_a. It cannot hang on its own, but two threads running this code could deadlock.
// Expected under the shim: one lock_order_cycle marked "single_thread": true.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_mu_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_mu_b = PTHREAD_MUTEX_INITIALIZER;

static void LockPair(pthread_mutex_t* first, pthread_mutex_t* second) {
  ITEST_OK(pthread_mutex_lock(first));
  ITEST_OK(pthread_mutex_lock(second));
  ITEST_OK(pthread_mutex_unlock(second));
  ITEST_OK(pthread_mutex_unlock(first));
}

int main(void) {
  LockPair(&g_mu_a, &g_mu_b);
  LockPair(&g_mu_b, &g_mu_a);
  return 0;
}
