// deadlock_ring: N threads (2 or 3), each takes its own lock, meets the others at a barrier, then
// takes its neighbour's lock: a real deadlock, every thread blocked for good. The primitive is
// the first argument: mutex (pthread_mutex_t), rwlock (write locks), spin, mtx (C11 mtx_t).
// Usage: deadlock_ring mutex|rwlock|spin|mtx N
// Expected under the shim: one deadlock naming all N threads (the program never ends by itself;
// with LOCKAUDIT_ON_DEADLOCK=abort it dies by SIGABRT). Also one lock_order_cycle, learned as
// the threads blocked.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "itest.h"

enum { kMaxThreads = 3 };
pthread_mutex_t g_ring_mutex[kMaxThreads];
pthread_rwlock_t g_ring_rwlock[kMaxThreads];
pthread_spinlock_t g_ring_spin[kMaxThreads];
mtx_t g_ring_mtx[kMaxThreads];
static pthread_barrier_t g_all_hold_one;
static int g_threads;
static const char* g_kind;

static void Lock(int i) {
  if (strcmp(g_kind, "mutex") == 0) ITEST_OK(pthread_mutex_lock(&g_ring_mutex[i]));
  else if (strcmp(g_kind, "rwlock") == 0) ITEST_OK(pthread_rwlock_wrlock(&g_ring_rwlock[i]));
  else if (strcmp(g_kind, "spin") == 0) ITEST_OK(pthread_spin_lock(&g_ring_spin[i]));
  else ITEST_EXPECT_RC(mtx_lock(&g_ring_mtx[i]), thrd_success);
}

static void* Worker(void* arg) {
  int i = (int)(long)arg;
  char name[16];
  snprintf(name, sizeof name, "ring-%d", i);
  pthread_setname_np(pthread_self(), name);
  Lock(i);
  pthread_barrier_wait(&g_all_hold_one);
  Lock((i + 1) % g_threads);  // never returns: the neighbour holds it and waits for ours
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: deadlock_ring mutex|rwlock|spin|mtx N\n");
    return 2;
  }
  g_kind = argv[1];
  g_threads = atoi(argv[2]);
  if (g_threads < 2 || g_threads > kMaxThreads) return 2;
  for (int i = 0; i < kMaxThreads; ++i) {
    ITEST_OK(pthread_mutex_init(&g_ring_mutex[i], NULL));
    ITEST_OK(pthread_rwlock_init(&g_ring_rwlock[i], NULL));
    ITEST_OK(pthread_spin_init(&g_ring_spin[i], PTHREAD_PROCESS_PRIVATE));
    ITEST_EXPECT_RC(mtx_init(&g_ring_mtx[i], mtx_plain), thrd_success);
  }
  ITEST_OK(pthread_barrier_init(&g_all_hold_one, NULL, (unsigned)g_threads));
  pthread_t threads[kMaxThreads];
  for (int i = 0; i < g_threads; ++i) ITEST_OK(pthread_create(&threads[i], NULL, Worker, (void*)(long)i));
  for (int i = 0; i < g_threads; ++i) ITEST_OK(pthread_join(threads[i], NULL));
  return 0;
}
