/* shim_overhead: an unmodified C program that times uncontended pthread lock+unlock pairs, to be
 * run natively and under LD_PRELOAD=build/lib/liblockaudit_preload.so (bench/compare_shim.sh).
 * It includes no lockaudit header and links nothing of lockaudit.
 *
 *   shim_overhead MODE ITERATIONS [threaded]      prints ns_per_op=<x>
 *
 * MODE
 *   nothing-held  pthread_mutex_lock+unlock of one mutex, nothing else held
 *   one-held      the same while one other mutex is held for the whole loop (the edge
 *                 outer->inner is known after the warm-up)
 *   ten-held      the same while ten other mutexes are held
 *   rwlock-read   pthread_rwlock_rdlock+unlock of one rwlock, nothing else held
 *
 * threaded: first start one idle thread (blocked for good, using no CPU). glibc (2.34+) skips
 * the atomic instructions of pthread_mutex_lock/unlock while a process has only ever had one
 * thread (__libc_single_threaded), but not those of pthread_mutex_trylock, which the shim's
 * fast path uses: without `threaded` the native side is a lock with no atomic operation at all,
 * which no program that can deadlock runs. Both are reported.
 *
 * A fixed warm-up (kWarmup pairs, untimed) runs first, so the one-time costs (the shim learning
 * the lock and its edges) stay out of the timing, and two runs with different ITERATIONS differ
 * by exactly the extra pairs (for instruction counts under callgrind).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kWarmup = 10000, kMaxOuter = 10 };

static pthread_mutex_t g_inner = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_outer[kMaxOuter] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER};
static pthread_rwlock_t g_rwlock = PTHREAD_RWLOCK_INITIALIZER;

/* The lock under test is read through a volatile pointer so that the loop cannot be specialised
 * to one address (the calls themselves are external and never elided). */
static pthread_mutex_t* volatile g_inner_ptr = &g_inner;
static pthread_rwlock_t* volatile g_rwlock_ptr = &g_rwlock;

static int Fail(const char* what) {
  fprintf(stderr, "shim_overhead: %s failed\n", what);
  return 1;
}

static int MutexLoop(long n) {
  pthread_mutex_t* m = g_inner_ptr;
  for (long i = 0; i < n; ++i) {
    if (pthread_mutex_lock(m) != 0) return Fail("pthread_mutex_lock");
    __asm__ __volatile__("" ::: "memory");
    if (pthread_mutex_unlock(m) != 0) return Fail("pthread_mutex_unlock");
  }
  return 0;
}

static int RwlockReadLoop(long n) {
  pthread_rwlock_t* l = g_rwlock_ptr;
  for (long i = 0; i < n; ++i) {
    if (pthread_rwlock_rdlock(l) != 0) return Fail("pthread_rwlock_rdlock");
    __asm__ __volatile__("" ::: "memory");
    if (pthread_rwlock_unlock(l) != 0) return Fail("pthread_rwlock_unlock");
  }
  return 0;
}

static double NowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void* Idle(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static int Usage(void) {
  fprintf(stderr,
          "usage: shim_overhead MODE ITERATIONS [threaded]\n"
          "  MODE: nothing-held | one-held | ten-held | rwlock-read\n"
          "  threaded: start an idle thread first (glibc then uses atomic lock paths)\n"
          "  prints ns_per_op=<x> (one op = one lock+unlock pair)\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) return Usage();
  if (argc == 4 && strcmp(argv[3], "threaded") != 0) return Usage();
  const char* mode = argv[1];
  char* end = NULL;
  long iterations = strtol(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0' || iterations <= 0) return Usage();

  int held = 0;
  int rwlock = 0;
  if (strcmp(mode, "nothing-held") == 0) {
    held = 0;
  } else if (strcmp(mode, "one-held") == 0) {
    held = 1;
  } else if (strcmp(mode, "ten-held") == 0) {
    held = 10;
  } else if (strcmp(mode, "rwlock-read") == 0) {
    rwlock = 1;
  } else {
    return Usage();
  }

  if (argc == 4) {
    pthread_t idle;
    if (pthread_create(&idle, NULL, Idle, NULL) != 0) return Fail("pthread_create");
  }
  for (int i = 0; i < held; ++i) {
    if (pthread_mutex_lock(&g_outer[i]) != 0) return Fail("pthread_mutex_lock (outer)");
  }
  int rc = rwlock ? RwlockReadLoop(kWarmup) : MutexLoop(kWarmup);
  if (rc != 0) return rc;
  double start = NowNs();
  rc = rwlock ? RwlockReadLoop(iterations) : MutexLoop(iterations);
  double elapsed = NowNs() - start;
  if (rc != 0) return rc;
  for (int i = held; i-- > 0;) pthread_mutex_unlock(&g_outer[i]);

  printf("ns_per_op=%.3f\n", elapsed / (double)iterations);
  return 0;
}
