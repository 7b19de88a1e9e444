/* rw_hold: g_rw_read is held for reading for 400 ms while a second reader takes it too (readers
 * do not wait for each other); then g_rw_write is held for writing for 400 ms. With
 * LOCKAUDIT_STALL_MS=100 both holds are hold stalls, the read one worded as such; with
 * LOCKAUDIT_SHARED_STALL_MS=5000 only the write hold is. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>

#include "itest.h"

pthread_rwlock_t g_rw_read = PTHREAD_RWLOCK_INITIALIZER;
pthread_rwlock_t g_rw_write = PTHREAD_RWLOCK_INITIALIZER;

static void SleepMs(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&d, NULL);
}

static void* SecondReader(void* arg) {
  (void)arg;
  SleepMs(50);
  ITEST_OK(pthread_rwlock_rdlock(&g_rw_read));  /* gets in at once: a reader holds it */
  ITEST_OK(pthread_rwlock_unlock(&g_rw_read));
  return NULL;
}

int main(void) {
  pthread_t t;
  ITEST_OK(pthread_rwlock_rdlock(&g_rw_read));
  ITEST_OK(pthread_create(&t, NULL, SecondReader, NULL));
  SleepMs(400);
  ITEST_OK(pthread_join(t, NULL));
  ITEST_OK(pthread_rwlock_unlock(&g_rw_read));
  ITEST_OK(pthread_rwlock_wrlock(&g_rw_write));
  SleepMs(400);
  ITEST_OK(pthread_rwlock_unlock(&g_rw_write));
  return 0;
}
