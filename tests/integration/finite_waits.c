// finite_waits: a correct program whose threads wait and hold for a while, always well below the
// stall threshold (first argument, ms): four threads take turns on one lock, each holding it for
// a twentieth of the threshold, and a producer/consumer pair hands items over a condition
// variable with pauses. Expected under the shim: no stall (the hold's sleep under the lock is a
// blocking_under_lock).
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "itest.h"

pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_queue_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_queue_cv = PTHREAD_COND_INITIALIZER;
static int g_items;
static long g_stall_ms;

static void* Turn(void* arg) {
  (void)arg;
  for (int i = 0; i < 3; ++i) {
    // A mutex is not fair: a thread can wait while the 3 others take all their turns, 9 holds
    // (0.45 thresholds; with a tenth of it per hold, a loaded machine crossed the threshold).
    ITEST_OK(pthread_mutex_lock(&g_pool_mu));
    itest_sleep_ms(g_stall_ms / 20);
    ITEST_OK(pthread_mutex_unlock(&g_pool_mu));
  }
  return NULL;
}

static void* Producer(void* arg) {
  (void)arg;
  for (int i = 0; i < 5; ++i) {
    itest_sleep_ms(g_stall_ms / 5);
    ITEST_OK(pthread_mutex_lock(&g_queue_mu));
    ++g_items;
    ITEST_OK(pthread_cond_signal(&g_queue_cv));
    ITEST_OK(pthread_mutex_unlock(&g_queue_mu));
  }
  return NULL;
}

int main(int argc, char** argv) {
  g_stall_ms = argc > 1 ? atol(argv[1]) : 1000;
  pthread_t turns[4], producer;
  for (int i = 0; i < 4; ++i) ITEST_OK(pthread_create(&turns[i], NULL, Turn, NULL));
  ITEST_OK(pthread_create(&producer, NULL, Producer, NULL));
  for (int consumed = 0; consumed < 5; ++consumed) {
    ITEST_OK(pthread_mutex_lock(&g_queue_mu));
    while (g_items == 0) ITEST_OK(pthread_cond_wait(&g_queue_cv, &g_queue_mu));
    --g_items;
    ITEST_OK(pthread_mutex_unlock(&g_queue_mu));
  }
  for (int i = 0; i < 4; ++i) ITEST_OK(pthread_join(turns[i], NULL));
  ITEST_OK(pthread_join(producer, NULL));
  return 0;
}
