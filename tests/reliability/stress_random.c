/* stress_random: many threads doing random, correctly ordered lock operations, plus exactly K
 * injected lock-order inversions; check_stress.py then asserts that the shim's report holds
 * exactly those K lock_order_cycle findings and nothing else (no invented findings).
 *
 * Usage: stress_random [THREADS [ITERATIONS [K]]]   (defaults 64 2000 5; K <= 8, 2K <= THREADS)
 *
 * Every thread runs its own seeded random sequence of: locking 1-3 mutexes of g_pool_mu in
 * ascending index order (held depth <= 3), sometimes with a trylock of another one on top that
 * is released at once; read- or write-locking one of g_pool_rw, sometimes with one pool mutex
 * inside (rwlocks always come before mutexes); tryrdlock/trywrlock; pthread_cond_signal and a
 * pthread_cond_timedwait with a passed deadline on g_cv/g_cv_mu (always that pair); trylock of
 * one pool mutex alone. No acquisition order here can form a cycle. The injected inversions:
 * thread i (i < K) locks g_inv_a_<i> then g_inv_b_<i> halfway through; thread K+i, after thread
 * i is done with them, locks g_inv_b_<i> then g_inv_a_<i>: a potential deadlock each (distinct
 * locks, no common gate), never a real one. Every pool mutex guards a plain counter that each
 * acquisition increments; the program checks that no increment was lost (mutual exclusion) and
 * exits 1 if one was. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { kPool = 64, kRw = 8, kMaxInversions = 8, kMaxThreads = 256 };

pthread_mutex_t g_pool_mu[kPool];
pthread_rwlock_t g_pool_rw[kRw];
pthread_mutex_t g_cv_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static long g_pool_count[kPool]; /* g_pool_count[i] guarded by g_pool_mu[i] */

/* Separate globals, so each is named by its own symbol in the report. */
pthread_mutex_t g_inv_a_0 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_0 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inv_a_1 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_1 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inv_a_2 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_2 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inv_a_3 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_3 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inv_a_4 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_4 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inv_a_5 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_5 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inv_a_6 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_6 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inv_a_7 = PTHREAD_MUTEX_INITIALIZER, g_inv_b_7 = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t* const kInvA[kMaxInversions] = {&g_inv_a_0, &g_inv_a_1, &g_inv_a_2,
                                                       &g_inv_a_3, &g_inv_a_4, &g_inv_a_5,
                                                       &g_inv_a_6, &g_inv_a_7};
static pthread_mutex_t* const kInvB[kMaxInversions] = {&g_inv_b_0, &g_inv_b_1, &g_inv_b_2,
                                                       &g_inv_b_3, &g_inv_b_4, &g_inv_b_5,
                                                       &g_inv_b_6, &g_inv_b_7};
static atomic_int g_inv_first_done[kMaxInversions];

static int g_threads = 64, g_iterations = 2000, g_inversions = 5;

struct worker {
  int index;
  unsigned long long rng;
  long acquisitions[kPool]; /* this thread's increments of g_pool_count */
  long failures;
};

static unsigned next_rand(struct worker* w, unsigned n) {
  w->rng ^= w->rng << 13; /* xorshift64 */
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return (unsigned)(w->rng % n);
}

static void check(struct worker* w, int rc) {
  if (rc != 0) w->failures++;
}

static void pool_lock(struct worker* w, int i) {
  check(w, pthread_mutex_lock(&g_pool_mu[i]));
  g_pool_count[i]++;
  w->acquisitions[i]++;
}

static void op_nested(struct worker* w) {
  int n = 1 + (int)next_rand(w, 3), held[3], count = 0, low = 0;
  for (int k = 0; k < n && low < kPool; k++) { /* ascending indices */
    int room = kPool - low - (n - k - 1);
    if (room <= 0) break;
    int i = low + (int)next_rand(w, (unsigned)room);
    held[count++] = i;
    low = i + 1;
  }
  for (int k = 0; k < count; k++) pool_lock(w, held[k]);
  if (next_rand(w, 4) == 0) { /* a trylock on top: no edge into it, released at once */
    int t = (int)next_rand(w, kPool);
    int mine = 0;
    for (int k = 0; k < count; k++) mine |= held[k] == t;
    if (!mine && pthread_mutex_trylock(&g_pool_mu[t]) == 0) {
      g_pool_count[t]++;
      w->acquisitions[t]++;
      check(w, pthread_mutex_unlock(&g_pool_mu[t]));
    }
  }
  for (int k = count - 1; k >= 0; k--) check(w, pthread_mutex_unlock(&g_pool_mu[held[k]]));
}

static void op_rwlock(struct worker* w) {
  pthread_rwlock_t* rw = &g_pool_rw[next_rand(w, kRw)];
  check(w, next_rand(w, 2) ? pthread_rwlock_rdlock(rw) : pthread_rwlock_wrlock(rw));
  if (next_rand(w, 2)) { /* rwlock -> mutex, never the other way */
    int i = (int)next_rand(w, kPool);
    pool_lock(w, i);
    check(w, pthread_mutex_unlock(&g_pool_mu[i]));
  }
  check(w, pthread_rwlock_unlock(rw));
}

static void op_rw_try(struct worker* w) {
  pthread_rwlock_t* rw = &g_pool_rw[next_rand(w, kRw)];
  int rc = next_rand(w, 2) ? pthread_rwlock_tryrdlock(rw) : pthread_rwlock_trywrlock(rw);
  if (rc == 0) {
    check(w, pthread_rwlock_unlock(rw));
  } else if (rc != EBUSY) {
    w->failures++;
  }
}

static void op_cond(struct worker* w) {
  struct timespec past;
  clock_gettime(CLOCK_REALTIME, &past);
  past.tv_sec -= 1;
  check(w, pthread_mutex_lock(&g_cv_mu));
  check(w, next_rand(w, 2) ? pthread_cond_signal(&g_cv) : pthread_cond_broadcast(&g_cv));
  int rc = pthread_cond_timedwait(&g_cv, &g_cv_mu, &past);
  if (rc != 0 && rc != ETIMEDOUT) w->failures++;
  check(w, pthread_mutex_unlock(&g_cv_mu));
}

static void op_try_alone(struct worker* w) {
  int i = (int)next_rand(w, kPool);
  int rc = pthread_mutex_trylock(&g_pool_mu[i]);
  if (rc == 0) {
    g_pool_count[i]++;
    w->acquisitions[i]++;
    check(w, pthread_mutex_unlock(&g_pool_mu[i]));
  } else if (rc != EBUSY) {
    w->failures++;
  }
}

static void inject(struct worker* w) {
  int i = w->index;
  if (i < g_inversions) { /* A_i -> B_i */
    check(w, pthread_mutex_lock(kInvA[i]));
    check(w, pthread_mutex_lock(kInvB[i]));
    check(w, pthread_mutex_unlock(kInvB[i]));
    check(w, pthread_mutex_unlock(kInvA[i]));
    atomic_store(&g_inv_first_done[i], 1);
  } else if (i < 2 * g_inversions) { /* B_i -> A_i, strictly after */
    i -= g_inversions;
    while (!atomic_load(&g_inv_first_done[i])) sched_yield();
    check(w, pthread_mutex_lock(kInvB[i]));
    check(w, pthread_mutex_lock(kInvA[i]));
    check(w, pthread_mutex_unlock(kInvA[i]));
    check(w, pthread_mutex_unlock(kInvB[i]));
  }
}

static void* run_worker(void* arg) {
  struct worker* w = arg;
  for (int it = 0; it < g_iterations; it++) {
    if (it == g_iterations / 2) inject(w);
    unsigned r = next_rand(w, 100);
    if (r < 50) {
      op_nested(w);
    } else if (r < 65) {
      op_rwlock(w);
    } else if (r < 75) {
      op_rw_try(w);
    } else if (r < 85) {
      op_cond(w);
    } else {
      op_try_alone(w);
    }
  }
  return NULL;
}

static int parse(const char* text, int low, int high, const char* what) {
  char* end = NULL;
  long v = strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < low || v > high) {
    fprintf(stderr, "stress_random: %s must be %d..%d, got '%s'\n", what, low, high, text);
    exit(2);
  }
  return (int)v;
}

int main(int argc, char** argv) {
  if (argc > 1) g_threads = parse(argv[1], 1, kMaxThreads, "THREADS");
  if (argc > 2) g_iterations = parse(argv[2], 1, 100000000, "ITERATIONS");
  if (argc > 3) g_inversions = parse(argv[3], 0, kMaxInversions, "K");
  if (2 * g_inversions > g_threads) {
    fprintf(stderr, "stress_random: K=%d inversions need %d threads\n", g_inversions,
            2 * g_inversions);
    return 2;
  }
  for (int i = 0; i < kPool; i++) pthread_mutex_init(&g_pool_mu[i], NULL);
  for (int i = 0; i < kRw; i++) pthread_rwlock_init(&g_pool_rw[i], NULL);

  static struct worker workers[kMaxThreads];
  static pthread_t threads[kMaxThreads];
  for (int t = 0; t < g_threads; t++) {
    workers[t].index = t;
    workers[t].rng = 0x9E3779B97F4A7C15ull * (unsigned long long)(t + 1);
    if (pthread_create(&threads[t], NULL, run_worker, &workers[t]) != 0) {
      fprintf(stderr, "stress_random: pthread_create failed\n");
      return 3;
    }
  }
  long failures = 0, lost = 0, total = 0;
  for (int t = 0; t < g_threads; t++) {
    pthread_join(threads[t], NULL);
    failures += workers[t].failures;
  }
  for (int i = 0; i < kPool; i++) {
    long want = 0;
    for (int t = 0; t < g_threads; t++) want += workers[t].acquisitions[i];
    lost += want - g_pool_count[i];
    total += g_pool_count[i];
  }
  printf("stress_random: %d threads x %d iterations, %d inversions: %ld pool acquisitions, "
         "%ld lost increments, %ld failed calls\n",
         g_threads, g_iterations, g_inversions, total, lost, failures);
  return lost == 0 && failures == 0 ? 0 : 1;
}
