/* limits: the program keeps working under resource limits with the shim loaded.
 *
 * Run by differential.sh with --ulimit-v (an address-space limit, e.g. 512 MiB, set before the
 * program and so before the shim initialises): a 256 MiB malloc, touched, must succeed as it
 * does natively; 200 threads (256 KiB stacks) each lock three global mutexes in a fixed order,
 * all alive at once, must all be created and joined. Then RLIMIT_NOFILE is lowered to 16 and
 * locks still work: new locks and new lock-order edges (which the shim records), an ABBA
 * inversion on two global mutexes (a finding the shim writes out), and the program's own
 * open() calls still succeed up to the limit as natively (only whether EMFILE came is printed:
 * the count of descriptors may differ under the shim). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rtest.h"

enum { kThreads = 200, kBigMiB = 256 };

pthread_mutex_t g_lim_1 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_lim_2 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_lim_3 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_lim_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_lim_b = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_started, g_release, g_lock_failures;

static void* locker(void* arg) {
  (void)arg;
  atomic_fetch_add(&g_started, 1);
  while (!atomic_load(&g_release)) sched_yield(); /* all alive at once */
  for (int i = 0; i < 20; i++) {
    if (pthread_mutex_lock(&g_lim_1) != 0 || pthread_mutex_lock(&g_lim_2) != 0 ||
        pthread_mutex_lock(&g_lim_3) != 0 || pthread_mutex_unlock(&g_lim_3) != 0 ||
        pthread_mutex_unlock(&g_lim_2) != 0 || pthread_mutex_unlock(&g_lim_1) != 0) {
      atomic_fetch_add(&g_lock_failures, 1);
    }
  }
  return NULL;
}

static void big_malloc(void) {
  rtest_ctx = "address space";
  size_t size = (size_t)kBigMiB << 20;
  char* p = malloc(size);
  RTEST_SAY("malloc(%d MiB) -> %s", kBigMiB, p ? "ok" : "NULL");
  if (p != NULL) {
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    free(p);
  }
}

static void many_threads(void) {
  rtest_ctx = "threads";
  static pthread_t threads[kThreads];
  pthread_attr_t attr;
  RTEST_SETUP(pthread_attr_init(&attr));
  RTEST_SETUP(pthread_attr_setstacksize(&attr, 256 * 1024));
  int created = 0, failures = 0, joined = 0;
  for (int i = 0; i < kThreads; i++) {
    int rc = pthread_create(&threads[created], &attr, locker, NULL);
    if (rc == 0) {
      created++;
    } else if (failures++ == 0) {
      RTEST_SAY("pthread_create #%d -> %d %s", i, rc, rtest_errname(rc));
    }
  }
  pthread_attr_destroy(&attr);
  while (atomic_load(&g_started) < created) sched_yield();
  atomic_store(&g_release, 1);
  for (int i = 0; i < created; i++) joined += pthread_join(threads[i], NULL) == 0;
  RTEST_SAY("created %d of %d, joined %d, failed lock calls %d", created, kThreads, joined,
            atomic_load(&g_lock_failures));
}

static void* lock_pair(void* arg) {
  pthread_mutex_t** p = arg;
  pthread_mutex_lock(p[0]);
  pthread_mutex_lock(p[1]);
  pthread_mutex_unlock(p[1]);
  pthread_mutex_unlock(p[0]);
  return NULL;
}

static void few_descriptors(void) {
  rtest_ctx = "RLIMIT_NOFILE 16";
  struct rlimit rl = {16, 16};
  RTEST_CALL(setrlimit(RLIMIT_NOFILE, &rl));
  /* Fresh locks nested three deep: new locks, new edges. */
  for (int i = 0; i < 50; i++) {
    pthread_mutex_t m[3];
    int failed = 0;
    for (int j = 0; j < 3; j++) failed |= pthread_mutex_init(&m[j], NULL);
    for (int j = 0; j < 3; j++) failed |= pthread_mutex_lock(&m[j]);
    for (int j = 2; j >= 0; j--) failed |= pthread_mutex_unlock(&m[j]);
    for (int j = 0; j < 3; j++) failed |= pthread_mutex_destroy(&m[j]);
    if (failed) RTEST_SAY("round %d: a lock call failed", i);
  }
  /* An inversion: the shim reports it (symbolizing may want to open files). */
  pthread_mutex_t* ab[2] = {&g_lim_a, &g_lim_b};
  pthread_mutex_t* ba[2] = {&g_lim_b, &g_lim_a};
  rtest_in_thread(lock_pair, ab);
  rtest_in_thread(lock_pair, ba);
  RTEST_CALL(pthread_mutex_trylock(&g_lim_a));
  RTEST_CALL(pthread_mutex_unlock(&g_lim_a));
  /* The program's own descriptors: open until the limit. */
  int fds[32], n = 0, last_errno = 0;
  while (n < 32) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) {
      last_errno = errno;
      break;
    }
    fds[n++] = fd;
  }
  RTEST_SAY("open() until it failed: %s", n > 0 ? rtest_errname(last_errno) : "none opened");
  for (int i = 0; i < n; i++) close(fds[i]);
  int fd = open("/dev/null", O_RDONLY);
  RTEST_SAY("open() after closing them: %s", fd >= 0 ? "ok" : rtest_errname(errno));
  if (fd >= 0) close(fd);
}

int main(void) {
  rtest_line_buffered();
  big_malloc();
  many_threads();
  few_descriptors();
  printf("end: done\n");
  return 0;
}
