/* shim_overhead: an unmodified C program that times uncontended pthread lock+unlock pairs, to be
 * run natively and under LD_PRELOAD=build/lib/liblockaudit_preload.so (bench/compare_shim.sh).
 * It includes no lockaudit header and links nothing of lockaudit.
 *
 *   shim_overhead MODE ITERATIONS [threaded] [paired]
 *
 * prints ns_per_op=<x>, and with `paired` also native_ns_per_op=<y> and ratio=<x/y>.
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
 * thread (__libc_single_threaded), but not those of pthread_mutex_trylock: without `threaded`
 * the native side is a lock with no atomic operation at all, which no program that can deadlock
 * runs. Both are reported.
 *
 * paired: the same process also times glibc's own functions, called through pointers from
 * dlsym on libc.so.6 (so past any LD_PRELOAD interposer), on a second set of locks in the same
 * state (the same number held). The two loops alternate in blocks of kBlock pairs, the order
 * swapped every round, ITERATIONS pairs each: a slow spell of the machine (on a shared VM they
 * last milliseconds to minutes and hit the process that touches more memory harder) falls on
 * both sides alike, so the ratio is measured side by side. Run natively, both sides are glibc
 * and the ratio checks the method (about 1.00).
 *
 * A fixed warm-up (kWarmup pairs, untimed) runs first, so the one-time costs (the shim learning
 * the lock and its edges) stay out of the timing, and two runs with different ITERATIONS differ
 * by exactly the extra pairs (for instruction counts under callgrind; not with `paired`).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kWarmup = 10000, kMaxOuter = 10, kBlock = 20000 };

static pthread_mutex_t g_inner = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_outer[kMaxOuter] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER};
static pthread_rwlock_t g_rwlock = PTHREAD_RWLOCK_INITIALIZER;
/* The locks of the native side of `paired` (never seen by an interposer). */
static pthread_mutex_t g_native_inner = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_native_outer[kMaxOuter] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER};
static pthread_rwlock_t g_native_rwlock = PTHREAD_RWLOCK_INITIALIZER;

/* glibc's own functions, for the native side of `paired`. */
static int (*libc_mutex_lock)(pthread_mutex_t*);
static int (*libc_mutex_unlock)(pthread_mutex_t*);
static int (*libc_rwlock_rdlock)(pthread_rwlock_t*);
static int (*libc_rwlock_unlock)(pthread_rwlock_t*);

/* The lock under test is read through a volatile pointer so that the loop cannot be specialised
 * to one address (the calls themselves are external and never elided). */
static pthread_mutex_t* volatile g_inner_ptr = &g_inner;
static pthread_rwlock_t* volatile g_rwlock_ptr = &g_rwlock;
static pthread_mutex_t* volatile g_native_inner_ptr = &g_native_inner;
static pthread_rwlock_t* volatile g_native_rwlock_ptr = &g_native_rwlock;

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

/* The native loops are separate functions calling through the global pointers (reloaded after
 * each memory clobber, as the PLT reloads the GOT slot): one loop taking the functions as
 * arguments kept glibc's in registers and made the native side 8-14% faster than the same glibc
 * called through the PLT (the method check read 1.08-1.14 instead of 1.00). */
static int NativeMutexLoop(long n) {
  pthread_mutex_t* m = g_native_inner_ptr;
  for (long i = 0; i < n; ++i) {
    if (libc_mutex_lock(m) != 0) return Fail("glibc pthread_mutex_lock");
    __asm__ __volatile__("" ::: "memory");
    if (libc_mutex_unlock(m) != 0) return Fail("glibc pthread_mutex_unlock");
  }
  return 0;
}

static int NativeRwlockReadLoop(long n) {
  pthread_rwlock_t* l = g_native_rwlock_ptr;
  for (long i = 0; i < n; ++i) {
    if (libc_rwlock_rdlock(l) != 0) return Fail("glibc pthread_rwlock_rdlock");
    __asm__ __volatile__("" ::: "memory");
    if (libc_rwlock_unlock(l) != 0) return Fail("glibc pthread_rwlock_unlock");
  }
  return 0;
}

static int ResolveLibc(void) {
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (libc == NULL) return Fail("dlopen(libc.so.6)");
  *(void**)&libc_mutex_lock = dlsym(libc, "pthread_mutex_lock");
  *(void**)&libc_mutex_unlock = dlsym(libc, "pthread_mutex_unlock");
  *(void**)&libc_rwlock_rdlock = dlsym(libc, "pthread_rwlock_rdlock");
  *(void**)&libc_rwlock_unlock = dlsym(libc, "pthread_rwlock_unlock");
  if (!libc_mutex_lock || !libc_mutex_unlock || !libc_rwlock_rdlock || !libc_rwlock_unlock) {
    return Fail("dlsym on libc.so.6");
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
          "usage: shim_overhead MODE ITERATIONS [threaded] [paired]\n"
          "  MODE: nothing-held | one-held | ten-held | rwlock-read\n"
          "  threaded: start an idle thread first (glibc then uses atomic lock paths)\n"
          "  paired: also time glibc's own functions (past any interposer), alternating\n"
          "  prints ns_per_op=<x> (one op = one lock+unlock pair); paired: also\n"
          "  native_ns_per_op=<y> ratio=<x/y>\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) return Usage();
  int threaded = 0;
  int paired = 0;
  for (int i = 3; i < argc; ++i) {
    if (strcmp(argv[i], "threaded") == 0) {
      threaded = 1;
    } else if (strcmp(argv[i], "paired") == 0) {
      paired = 1;
    } else {
      return Usage();
    }
  }
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
  if (paired && ResolveLibc() != 0) return 1;

  if (threaded) {
    pthread_t idle;
    if (pthread_create(&idle, NULL, Idle, NULL) != 0) return Fail("pthread_create");
  }
  for (int i = 0; i < held; ++i) {
    if (pthread_mutex_lock(&g_outer[i]) != 0) return Fail("pthread_mutex_lock (outer)");
    if (paired && libc_mutex_lock(&g_native_outer[i]) != 0) {
      return Fail("glibc pthread_mutex_lock (outer)");
    }
  }
  int (*loop)(long) = rwlock ? RwlockReadLoop : MutexLoop;
  int (*native_loop)(long) = rwlock ? NativeRwlockReadLoop : NativeMutexLoop;
  int rc = loop(kWarmup);
  if (rc == 0 && paired) rc = native_loop(kWarmup);
  if (rc != 0) return rc;
  double elapsed = 0;
  double native_elapsed = 0;
  if (!paired) {
    double start = NowNs();
    rc = loop(iterations);
    elapsed = NowNs() - start;
  } else {
    for (long done = 0, round = 0; rc == 0 && done < iterations; done += kBlock, ++round) {
      long n = iterations - done < kBlock ? iterations - done : kBlock;
      for (int side = 0; rc == 0 && side < 2; ++side) {
        int native = (side ^ (int)(round & 1)) != 0;
        double start = NowNs();
        rc = native ? native_loop(n) : loop(n);
        double t = NowNs() - start;
        if (native) {
          native_elapsed += t;
        } else {
          elapsed += t;
        }
      }
    }
  }
  if (rc != 0) return rc;
  for (int i = held; i-- > 0;) {
    pthread_mutex_unlock(&g_outer[i]);
    if (paired) libc_mutex_unlock(&g_native_outer[i]);
  }

  printf("ns_per_op=%.3f\n", elapsed / (double)iterations);
  if (paired) {
    printf("native_ns_per_op=%.3f\nratio=%.3f\n", native_elapsed / (double)iterations,
           elapsed / native_elapsed);
  }
  return 0;
}
