// reuse_destroyed_pthread: g_mu_a and g_mu_b are initialised, taken in the order A->B and
// destroyed; then new mutexes are initialised in the same storage and taken in the order B->A.
// A lock is its address only while it lives (DESIGN.md §2): the new mutexes are different locks.
// Expected under the shim: no finding.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_mu_a;
pthread_mutex_t g_mu_b;

static void LockPair(pthread_mutex_t* first, pthread_mutex_t* second) {
  ITEST_OK(pthread_mutex_lock(first));
  ITEST_OK(pthread_mutex_lock(second));
  ITEST_OK(pthread_mutex_unlock(second));
  ITEST_OK(pthread_mutex_unlock(first));
}

int main(void) {
  ITEST_OK(pthread_mutex_init(&g_mu_a, NULL));
  ITEST_OK(pthread_mutex_init(&g_mu_b, NULL));
  LockPair(&g_mu_a, &g_mu_b);
  ITEST_OK(pthread_mutex_destroy(&g_mu_a));
  ITEST_OK(pthread_mutex_destroy(&g_mu_b));

  ITEST_OK(pthread_mutex_init(&g_mu_a, NULL));
  ITEST_OK(pthread_mutex_init(&g_mu_b, NULL));
  LockPair(&g_mu_b, &g_mu_a);
  ITEST_OK(pthread_mutex_destroy(&g_mu_a));
  ITEST_OK(pthread_mutex_destroy(&g_mu_b));
  return 0;
}
