/* rwlock_writer_preferred: a read/write inversion on a writer-preferring rwlock
 * (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) that deadlocks for real with three threads:
 *   reader 1 read-locks g_wp_rw, then (later) wants g_wp_mu;
 *   a writer queues for g_wp_rw (write) while reader 1 holds it;
 *   reader 2 holds g_wp_mu and read-locks g_wp_rw: it queues behind the writer, so it waits
 *   for reader 1, which waits for reader 2's g_wp_mu.
 * With a reader-preferring rwlock (argument "reader") reader 2 would get in: no deadlock, and
 * the read-read cycle is rightly not reported. Usage: rwlock_writer_preferred [writer|reader]
 * Under the shim (writer): a lock_order_cycle, and with the watchdog a deadlock that names the
 * queued writer. Without the shim it hangs (writer) or exits 0 (reader). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "itest.h"

pthread_rwlock_t g_wp_rw;
pthread_mutex_t g_wp_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_writer_preferring = 1;

static void SleepMs(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&d, NULL);
}

static atomic_int g_reader2_holds_mu;

static void* Reader1(void* arg) {
  (void)arg;
  ITEST_OK(pthread_rwlock_rdlock(&g_wp_rw));
  /* The writer queues, reader 2 takes g_wp_mu and queues too (or, reader-preferring, gets in). */
  while (!atomic_load(&g_reader2_holds_mu)) SleepMs(5);
  SleepMs(100);
  ITEST_OK(pthread_mutex_lock(&g_wp_mu));
  ITEST_OK(pthread_mutex_unlock(&g_wp_mu));
  ITEST_OK(pthread_rwlock_unlock(&g_wp_rw));
  return NULL;
}

static void* Writer(void* arg) {
  (void)arg;
  SleepMs(100);
  ITEST_OK(pthread_rwlock_wrlock(&g_wp_rw));
  ITEST_OK(pthread_rwlock_unlock(&g_wp_rw));
  return NULL;
}

static void* Reader2(void* arg) {
  (void)arg;
  SleepMs(150);
  ITEST_OK(pthread_mutex_lock(&g_wp_mu));
  /* Writer-preferring: wait until the writer is really queued, which a try-read then sees
   * (EBUSY while a reader holds the lock); bounded, the timing is only a start. */
  for (int i = 0; g_writer_preferring && i < 400; ++i) {
    if (pthread_rwlock_tryrdlock(&g_wp_rw) != 0) break;
    ITEST_OK(pthread_rwlock_unlock(&g_wp_rw));
    SleepMs(5);
  }
  atomic_store(&g_reader2_holds_mu, 1);
  ITEST_OK(pthread_rwlock_rdlock(&g_wp_rw));
  ITEST_OK(pthread_rwlock_unlock(&g_wp_rw));
  ITEST_OK(pthread_mutex_unlock(&g_wp_mu));
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "reader") == 0) g_writer_preferring = 0;
  pthread_rwlockattr_t attr;
  ITEST_OK(pthread_rwlockattr_init(&attr));
  ITEST_OK(pthread_rwlockattr_setkind_np(&attr, g_writer_preferring
                                                    ? PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
                                                    : PTHREAD_RWLOCK_PREFER_READER_NP));
  ITEST_OK(pthread_rwlock_init(&g_wp_rw, &attr));
  pthread_t r1, w, r2;
  ITEST_OK(pthread_create(&r1, NULL, Reader1, NULL));
  ITEST_OK(pthread_create(&w, NULL, Writer, NULL));
  ITEST_OK(pthread_create(&r2, NULL, Reader2, NULL));
  ITEST_OK(pthread_join(r1, NULL));
  ITEST_OK(pthread_join(w, NULL));
  ITEST_OK(pthread_join(r2, NULL));
  puts("rwlock_writer_preferred: done");
  return 0;
}
