// spinlock_cycle: thread 1 takes spinlock g_spin_a then g_spin_b and finishes; then thread 2
// takes g_spin_b then g_spin_a. Spinlocks deadlock (and burn CPU) like mutexes.
// Expected under the shim: one lock_order_cycle with two edges.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

pthread_spinlock_t g_spin_a;
pthread_spinlock_t g_spin_b;

struct Order {
  pthread_spinlock_t* first;
  pthread_spinlock_t* second;
};

static void* LockPair(void* arg) {
  const struct Order* order = arg;
  ITEST_OK(pthread_spin_lock(order->first));
  ITEST_OK(pthread_spin_lock(order->second));
  ITEST_OK(pthread_spin_unlock(order->second));
  ITEST_OK(pthread_spin_unlock(order->first));
  return NULL;
}

int main(void) {
  ITEST_OK(pthread_spin_init(&g_spin_a, PTHREAD_PROCESS_PRIVATE));
  ITEST_OK(pthread_spin_init(&g_spin_b, PTHREAD_PROCESS_PRIVATE));
  struct Order orders[2] = {{&g_spin_a, &g_spin_b}, {&g_spin_b, &g_spin_a}};
  for (int i = 0; i < 2; ++i) {
    pthread_t thread;
    ITEST_OK(pthread_create(&thread, NULL, LockPair, &orders[i]));
    ITEST_OK(pthread_join(thread, NULL));
  }
  ITEST_OK(pthread_spin_destroy(&g_spin_a));
  ITEST_OK(pthread_spin_destroy(&g_spin_b));
  return 0;
}
