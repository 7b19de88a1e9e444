// stalls: a thread holds g_config_mu for 3 stall thresholds (LOCKAUDIT_STALL_MS, given as the
// first argument in ms) while another waits for it. Both finish: no deadlock.
// Expected under the shim: one hold_stall (g_config_mu) and one wait_stall (the waiter).
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "itest.h"

pthread_mutex_t g_config_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_held;
static long g_stall_ms;

static void* Reader(void* arg) {
  (void)arg;
  pthread_barrier_wait(&g_held);
  ITEST_OK(pthread_mutex_lock(&g_config_mu));  // waits ~3 thresholds
  ITEST_OK(pthread_mutex_unlock(&g_config_mu));
  return NULL;
}

int main(int argc, char** argv) {
  g_stall_ms = argc > 1 ? atol(argv[1]) : 1000;
  ITEST_OK(pthread_barrier_init(&g_held, NULL, 2));
  pthread_t reader;
  ITEST_OK(pthread_create(&reader, NULL, Reader, NULL));
  ITEST_OK(pthread_mutex_lock(&g_config_mu));
  pthread_barrier_wait(&g_held);
  itest_sleep_ms(3 * g_stall_ms);  // a slow reload while holding the lock
  ITEST_OK(pthread_mutex_unlock(&g_config_mu));
  ITEST_OK(pthread_join(reader, NULL));
  return 0;
}
