// rwlock_write_read: thread 1 write-locks g_rw_a then read-locks g_rw_b and finishes; then
// thread 2 write-locks g_rw_b then read-locks g_rw_a. A blocking read lock adds an edge like any
// blocking acquisition, and a writer holding one lock while reading the other can deadlock.
// Expected under the shim: one lock_order_cycle with two edges.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

pthread_rwlock_t g_rw_a = PTHREAD_RWLOCK_INITIALIZER;
pthread_rwlock_t g_rw_b = PTHREAD_RWLOCK_INITIALIZER;

struct Order {
  pthread_rwlock_t* written;
  pthread_rwlock_t* read;
};

static void* WriteThenRead(void* arg) {
  const struct Order* order = arg;
  ITEST_OK(pthread_rwlock_wrlock(order->written));
  ITEST_OK(pthread_rwlock_rdlock(order->read));
  ITEST_OK(pthread_rwlock_unlock(order->read));
  ITEST_OK(pthread_rwlock_unlock(order->written));
  return NULL;
}

int main(void) {
  struct Order orders[2] = {{&g_rw_a, &g_rw_b}, {&g_rw_b, &g_rw_a}};
  for (int i = 0; i < 2; ++i) {
    pthread_t thread;
    ITEST_OK(pthread_create(&thread, NULL, WriteThenRead, &orders[i]));
    ITEST_OK(pthread_join(thread, NULL));
  }
  return 0;
}
