/* lock_semantics: the return codes and errno of every interposed lock call, for every kind of
 * lock, printed one call per line, so that differential.sh can compare them with the native run
 * (STYLE.md principle 1: an interposed lock behaves exactly like the real one).
 *
 * Mutex types normal, errorcheck, recursive, default, adaptive (NP), robust, PI
 * (PTHREAD_PRIO_INHERIT; normal and errorcheck) and process-shared; rwlocks (default and
 * PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP); spinlocks; C11 mtx (plain, timed, recursive).
 * For each: lock, trylock and timedlock/clocklock (deadline already passed) by the owner (EBUSY,
 * ETIMEDOUT, EDEADLK, recursion counts), trylock/timedlock by a second thread (EBUSY,
 * ETIMEDOUT), unlock by a non-owner (EPERM where the type checks), the state afterwards, and
 * destroy. Robust mutexes: owner exits holding -> EOWNERDEAD, pthread_mutex_consistent; the next
 * owner unlocks without consistent -> lock, trylock and timedlock return ENOTRECOVERABLE.
 * Condition variables: timedwait/clockwait with a passed deadline -> ETIMEDOUT with the mutex
 * held again; pthread_cond_wait on an errorcheck mutex the thread does not hold -> EPERM, and the
 * mutex then locks and unlocks normally (a shim that recorded it as held would see a double
 * lock). errno is set to 1234 before every call and printed after it.
 * Never blocks: no call here can wait natively (no self-relock of a non-recursive lock). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <threads.h>
#include <time.h>

#include "rtest.h"

/* ---- pthread mutexes ------------------------------------------------------------------ */

struct mutex_case {
  const char* name;
  int type;      /* PTHREAD_MUTEX_*, or -1 for no attribute at all */
  int robust;    /* PTHREAD_MUTEX_ROBUST */
  int protocol;  /* PTHREAD_PRIO_* */
  int pshared;   /* PTHREAD_PROCESS_SHARED, in shared memory */
  int checks_owner; /* unlock by a non-owner fails (EPERM); else glibc unlocks it for real */
};

static pthread_mutex_t* g_mu; /* the mutex the second thread works on */

static void* other_thread_on_mutex(void* arg) {
  const char* saved = rtest_ctx;
  (void)arg;
  rtest_ctx = "  other thread";
  struct timespec past = rtest_past(CLOCK_REALTIME);
  struct timespec past_mono = rtest_past(CLOCK_MONOTONIC);
  RTEST_CALL(pthread_mutex_trylock(g_mu));
  RTEST_CALL(pthread_mutex_timedlock(g_mu, &past));
  RTEST_CALL(pthread_mutex_clocklock(g_mu, CLOCK_MONOTONIC, &past_mono));
  RTEST_CALL(pthread_mutex_unlock(g_mu)); /* not the owner */
  rtest_ctx = saved;
  return NULL;
}

/* Locks and unlocks g_mu on another thread: whether the mutex is free (and usable) now. */
static void* other_thread_lock_unlock(void* arg) {
  const char* saved = rtest_ctx;
  (void)arg;
  rtest_ctx = "  other thread";
  errno = kRtestErrnoMark;
  int rc = pthread_mutex_trylock(g_mu);
  int e = errno;
  RTEST_SAY("pthread_mutex_trylock(g_mu) -> %d %s errno=%d", rc, rtest_errname(rc), e);
  if (rc == 0 || rc == EOWNERDEAD) RTEST_CALL(pthread_mutex_unlock(g_mu));
  rtest_ctx = saved;
  return NULL;
}

static void mutex_battery(const struct mutex_case* c) {
  char ctx[96];
  snprintf(ctx, sizeof ctx, "mutex %s", c->name);
  rtest_ctx = ctx;
  pthread_mutexattr_t attr;
  pthread_mutexattr_t* use = NULL;
  pthread_mutex_t* m = &(pthread_mutex_t){0};
  if (c->pshared) {
    m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
      perror("mmap");
      exit(3);
    }
  }
  if (c->type >= 0) {
    RTEST_SETUP(pthread_mutexattr_init(&attr));
    RTEST_CALL(pthread_mutexattr_settype(&attr, c->type));
    if (c->robust) RTEST_CALL(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST));
    if (c->protocol) RTEST_CALL(pthread_mutexattr_setprotocol(&attr, c->protocol));
    if (c->pshared) RTEST_CALL(pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED));
    use = &attr;
  }
  RTEST_CALL(pthread_mutex_init(m, use));
  if (use) pthread_mutexattr_destroy(use);
  g_mu = m;

  const int recursive = c->type == PTHREAD_MUTEX_RECURSIVE;
  struct timespec past = rtest_past(CLOCK_REALTIME);
  struct timespec past_mono = rtest_past(CLOCK_MONOTONIC);
  /* Unheld: lock/unlock, trylock/unlock, timedlock/unlock (free: the deadline is not looked at
     or, for some types, looked at and accepted). */
  RTEST_CALL(pthread_mutex_lock(m));
  RTEST_CALL(pthread_mutex_unlock(m));
  RTEST_CALL(pthread_mutex_trylock(m));
  RTEST_CALL(pthread_mutex_unlock(m));
  RTEST_CALL(pthread_mutex_timedlock(m, &past));
  RTEST_CALL(pthread_mutex_unlock(m));
  RTEST_CALL(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &past_mono));
  RTEST_CALL(pthread_mutex_unlock(m));

  /* Held by this thread: relock attempts that never block. */
  RTEST_CALL(pthread_mutex_lock(m));
  RTEST_CALL(pthread_mutex_trylock(m));                                 /* EBUSY, or count 2 */
  RTEST_CALL(pthread_mutex_timedlock(m, &past));                        /* ETIMEDOUT/EDEADLK/3 */
  RTEST_CALL(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &past_mono));  /* .../4 */
  if (c->type == PTHREAD_MUTEX_ERRORCHECK || recursive) RTEST_CALL(pthread_mutex_lock(m));

  /* Held: another thread's trylock, timedlock and unlock. */
  rtest_in_thread(other_thread_on_mutex, NULL);

  /* The owner unlocks as often as it holds it, and once more where that is defined. Where
     the other thread's unlock went through (no owner check: glibc just unlocks), the mutex is
     free already and a further unlock would be undefined, so none is made. */
  if (c->checks_owner) {
    int holds = recursive ? 5 : 1;
    for (int i = 0; i < holds; i++) RTEST_CALL(pthread_mutex_unlock(m));
    RTEST_CALL(pthread_mutex_unlock(m)); /* not held any more: EPERM */
  }

  /* Whatever state that left: another thread can take it, and so can this one. */
  rtest_in_thread(other_thread_lock_unlock, NULL);
  RTEST_CALL(pthread_mutex_trylock(m));
  RTEST_CALL(pthread_mutex_unlock(m));
  RTEST_CALL(pthread_mutex_destroy(m));
  if (c->pshared) munmap(m, sizeof *m);
}

/* ---- robust mutexes whose owner dies ----------------------------------------------------- */

static void* lock_and_exit(void* arg) {
  pthread_mutex_lock((pthread_mutex_t*)arg); /* exits holding it */
  return NULL;
}

static void robust_owner_dies(void) {
  pthread_mutexattr_t attr;
  pthread_mutex_t m;
  struct timespec past;

  rtest_ctx = "robust owner dies, consistent";
  RTEST_SETUP(pthread_mutexattr_init(&attr));
  RTEST_SETUP(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST));
  RTEST_CALL(pthread_mutex_init(&m, &attr));
  rtest_in_thread(lock_and_exit, &m);
  RTEST_CALL(pthread_mutex_lock(&m)); /* EOWNERDEAD: acquired */
  RTEST_CALL(pthread_mutex_consistent(&m));
  RTEST_CALL(pthread_mutex_unlock(&m));
  RTEST_CALL(pthread_mutex_lock(&m));
  RTEST_CALL(pthread_mutex_unlock(&m));
  RTEST_CALL(pthread_mutex_destroy(&m));

  rtest_ctx = "robust owner dies, trylock, consistent";
  RTEST_CALL(pthread_mutex_init(&m, &attr));
  rtest_in_thread(lock_and_exit, &m);
  RTEST_CALL(pthread_mutex_trylock(&m)); /* EOWNERDEAD */
  RTEST_CALL(pthread_mutex_consistent(&m));
  RTEST_CALL(pthread_mutex_unlock(&m));
  RTEST_CALL(pthread_mutex_trylock(&m));
  RTEST_CALL(pthread_mutex_unlock(&m));
  RTEST_CALL(pthread_mutex_destroy(&m));

  rtest_ctx = "robust owner dies, not made consistent";
  RTEST_CALL(pthread_mutex_init(&m, &attr));
  rtest_in_thread(lock_and_exit, &m);
  past = rtest_past(CLOCK_REALTIME);
  RTEST_CALL(pthread_mutex_timedlock(&m, &past)); /* EOWNERDEAD */
  RTEST_CALL(pthread_mutex_unlock(&m));           /* without consistent: unrecoverable */
  RTEST_CALL(pthread_mutex_lock(&m));             /* ENOTRECOVERABLE: not acquired */
  RTEST_CALL(pthread_mutex_trylock(&m));          /* ENOTRECOVERABLE */
  /* (Not tried: timedlock and unlock. glibc 2.36's timedlock of an unrecoverable robust mutex
     returns ETIMEDOUT and leaves it in a state where the next unlock crashes natively.) */
  g_mu = &m;
  rtest_in_thread(other_thread_lock_unlock, NULL); /* ENOTRECOVERABLE there too */
  RTEST_CALL(pthread_mutex_destroy(&m));
  /* A new mutex at the same address starts clean. */
  RTEST_CALL(pthread_mutex_init(&m, &attr));
  RTEST_CALL(pthread_mutex_lock(&m));
  RTEST_CALL(pthread_mutex_unlock(&m));
  RTEST_CALL(pthread_mutex_destroy(&m));
  pthread_mutexattr_destroy(&attr);
}

/* ---- rwlocks --------------------------------------------------------------------------- */

static pthread_rwlock_t* g_rw;

static void* other_thread_on_rwlock(void* arg) {
  const char* saved = rtest_ctx;
  (void)arg;
  rtest_ctx = "  other thread";
  struct timespec past = rtest_past(CLOCK_REALTIME);
  struct timespec past_mono = rtest_past(CLOCK_MONOTONIC);
  RTEST_CALL(pthread_rwlock_tryrdlock(g_rw));
  RTEST_CALL(pthread_rwlock_trywrlock(g_rw));
  RTEST_CALL(pthread_rwlock_timedrdlock(g_rw, &past));
  RTEST_CALL(pthread_rwlock_timedwrlock(g_rw, &past));
  RTEST_CALL(pthread_rwlock_clockrdlock(g_rw, CLOCK_MONOTONIC, &past_mono));
  RTEST_CALL(pthread_rwlock_clockwrlock(g_rw, CLOCK_MONOTONIC, &past_mono));
  rtest_ctx = saved;
  return NULL;
}

/* While this thread read-holds the lock: another reader gets in, a writer does not. */
static void* other_thread_read_probe(void* arg) {
  const char* saved = rtest_ctx;
  (void)arg;
  rtest_ctx = "  other thread";
  struct timespec past = rtest_past(CLOCK_REALTIME);
  RTEST_CALL(pthread_rwlock_tryrdlock(g_rw));
  RTEST_CALL(pthread_rwlock_unlock(g_rw));
  RTEST_CALL(pthread_rwlock_timedrdlock(g_rw, &past));
  RTEST_CALL(pthread_rwlock_unlock(g_rw));
  RTEST_CALL(pthread_rwlock_trywrlock(g_rw));
  RTEST_CALL(pthread_rwlock_timedwrlock(g_rw, &past));
  rtest_ctx = saved;
  return NULL;
}

static void rwlock_battery(const char* name, int kind) {
  char ctx[96];
  snprintf(ctx, sizeof ctx, "rwlock %s", name);
  rtest_ctx = ctx;
  pthread_rwlockattr_t attr;
  pthread_rwlock_t rw;
  RTEST_SETUP(pthread_rwlockattr_init(&attr));
  if (kind >= 0) RTEST_CALL(pthread_rwlockattr_setkind_np(&attr, kind));
  RTEST_CALL(pthread_rwlock_init(&rw, &attr));
  pthread_rwlockattr_destroy(&attr);
  g_rw = &rw;
  struct timespec past = rtest_past(CLOCK_REALTIME);
  struct timespec past_mono = rtest_past(CLOCK_MONOTONIC);

  /* Read-held by this thread, three times. */
  RTEST_CALL(pthread_rwlock_rdlock(&rw));
  RTEST_CALL(pthread_rwlock_tryrdlock(&rw));
  RTEST_CALL(pthread_rwlock_timedrdlock(&rw, &past));
  RTEST_CALL(pthread_rwlock_trywrlock(&rw));
  RTEST_CALL(pthread_rwlock_timedwrlock(&rw, &past));
  rtest_in_thread(other_thread_read_probe, NULL);
  RTEST_CALL(pthread_rwlock_unlock(&rw));
  RTEST_CALL(pthread_rwlock_unlock(&rw));
  RTEST_CALL(pthread_rwlock_unlock(&rw));

  /* Write-held by this thread. */
  RTEST_CALL(pthread_rwlock_wrlock(&rw));
  RTEST_CALL(pthread_rwlock_trywrlock(&rw));
  RTEST_CALL(pthread_rwlock_tryrdlock(&rw));
  RTEST_CALL(pthread_rwlock_timedwrlock(&rw, &past));   /* EDEADLK */
  RTEST_CALL(pthread_rwlock_timedrdlock(&rw, &past));   /* EDEADLK */
  RTEST_CALL(pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &past_mono));
  RTEST_CALL(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &past_mono));
  rtest_in_thread(other_thread_on_rwlock, NULL);
  RTEST_CALL(pthread_rwlock_unlock(&rw));

  /* Free again: every way in, each undone. */
  RTEST_CALL(pthread_rwlock_trywrlock(&rw));
  RTEST_CALL(pthread_rwlock_unlock(&rw));
  RTEST_CALL(pthread_rwlock_timedwrlock(&rw, &past));
  RTEST_CALL(pthread_rwlock_unlock(&rw));
  RTEST_CALL(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &past_mono));
  RTEST_CALL(pthread_rwlock_unlock(&rw));
  RTEST_CALL(pthread_rwlock_destroy(&rw));
}

/* ---- spinlocks ------------------------------------------------------------------------- */

static pthread_spinlock_t* g_spin;

static void* other_thread_on_spin(void* arg) {
  const char* saved = rtest_ctx;
  (void)arg;
  rtest_ctx = "  other thread";
  RTEST_CALL(pthread_spin_trylock(g_spin));
  rtest_ctx = saved;
  return NULL;
}

static void spin_battery(const char* name, int pshared) {
  char ctx[96];
  snprintf(ctx, sizeof ctx, "spinlock %s", name);
  rtest_ctx = ctx;
  pthread_spinlock_t s;
  g_spin = &s;
  RTEST_CALL(pthread_spin_init(&s, pshared));
  RTEST_CALL(pthread_spin_lock(&s));
  RTEST_CALL(pthread_spin_trylock(&s));
  rtest_in_thread(other_thread_on_spin, NULL);
  RTEST_CALL(pthread_spin_unlock(&s));
  RTEST_CALL(pthread_spin_trylock(&s));
  RTEST_CALL(pthread_spin_unlock(&s));
  RTEST_CALL(pthread_spin_destroy(&s));
}

/* ---- C11 mtx ----------------------------------------------------------------------------- */

static const char* thrd_name(int rc) {
  switch (rc) {
    case thrd_success: return "thrd_success";
    case thrd_busy: return "thrd_busy";
    case thrd_error: return "thrd_error";
    case thrd_nomem: return "thrd_nomem";
    case thrd_timedout: return "thrd_timedout";
    default: return "thrd_?";
  }
}

#define C11_CALL(call)                                                                    \
  do {                                                                                    \
    errno = kRtestErrnoMark;                                                              \
    int c11_rc_ = (call);                                                                 \
    int c11_errno_ = errno;                                                               \
    printf("%s: %s -> %s errno=%d\n", rtest_ctx, #call, thrd_name(c11_rc_), c11_errno_); \
  } while (0)

static mtx_t* g_mtx;

static int other_thread_on_mtx(void* arg) {
  const char* saved = rtest_ctx;
  int timed = *(int*)arg;
  rtest_ctx = "  other thread";
  struct timespec past = rtest_past(CLOCK_REALTIME);
  C11_CALL(mtx_trylock(g_mtx));
  if (timed) C11_CALL(mtx_timedlock(g_mtx, &past));
  C11_CALL(mtx_unlock(g_mtx)); /* not the owner */
  rtest_ctx = saved;
  return 0;
}

static void mtx_battery(const char* name, int type) {
  char ctx[96];
  snprintf(ctx, sizeof ctx, "mtx %s", name);
  rtest_ctx = ctx;
  mtx_t m;
  g_mtx = &m;
  int timed = (type & mtx_timed) != 0;
  int recursive = (type & mtx_recursive) != 0;
  struct timespec past = rtest_past(CLOCK_REALTIME);
  C11_CALL(mtx_init(&m, type));
  C11_CALL(mtx_lock(&m));
  C11_CALL(mtx_unlock(&m));
  C11_CALL(mtx_trylock(&m));
  C11_CALL(mtx_unlock(&m));
  if (timed) {
    C11_CALL(mtx_timedlock(&m, &past));
    C11_CALL(mtx_unlock(&m));
  }
  C11_CALL(mtx_lock(&m));
  C11_CALL(mtx_trylock(&m));                   /* busy, or count 2 */
  if (timed) C11_CALL(mtx_timedlock(&m, &past)); /* timed out, or count 3 */
  if (recursive) C11_CALL(mtx_lock(&m));
  thrd_t t;
  if (thrd_create(&t, other_thread_on_mtx, &timed) != thrd_success) exit(3);
  thrd_join(t, NULL);
  /* A plain mtx has no owner check: the other thread's mtx_unlock freed it already. */
  int holds = recursive ? 3 + timed : 0;
  for (int i = 0; i < holds; i++) C11_CALL(mtx_unlock(&m));
  C11_CALL(mtx_trylock(&m));
  C11_CALL(mtx_unlock(&m));
  RTEST_VOID(mtx_destroy(&m));
}

/* ---- condition variables --------------------------------------------------------------- */

static void cond_battery(void) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv;
  pthread_condattr_t cattr;
  struct timespec past;

  rtest_ctx = "cond timedwait";
  RTEST_CALL(pthread_cond_init(&cv, NULL));
  RTEST_CALL(pthread_cond_signal(&cv)); /* no waiter */
  RTEST_CALL(pthread_cond_broadcast(&cv));
  RTEST_CALL(pthread_mutex_lock(&m));
  past = rtest_past(CLOCK_REALTIME);
  RTEST_CALL(pthread_cond_timedwait(&cv, &m, &past)); /* ETIMEDOUT, holding m again */
  g_mu = &m;
  rtest_in_thread(other_thread_lock_unlock, NULL); /* EBUSY: m is held */
  past = rtest_past(CLOCK_MONOTONIC);
  RTEST_CALL(pthread_cond_clockwait(&cv, &m, CLOCK_MONOTONIC, &past));
  RTEST_CALL(pthread_mutex_unlock(&m));
  rtest_in_thread(other_thread_lock_unlock, NULL); /* free */
  RTEST_CALL(pthread_cond_destroy(&cv));

  rtest_ctx = "cond monotonic timedwait";
  RTEST_SETUP(pthread_condattr_init(&cattr));
  RTEST_CALL(pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC));
  RTEST_CALL(pthread_cond_init(&cv, &cattr));
  pthread_condattr_destroy(&cattr);
  RTEST_CALL(pthread_mutex_lock(&m));
  past = rtest_past(CLOCK_MONOTONIC);
  RTEST_CALL(pthread_cond_timedwait(&cv, &m, &past));
  RTEST_CALL(pthread_mutex_unlock(&m));
  RTEST_CALL(pthread_cond_destroy(&cv));

  /* pthread_cond_wait on an errorcheck mutex this thread does not hold: EPERM, and no wait. */
  rtest_ctx = "cond wait on an unheld errorcheck mutex";
  pthread_mutexattr_t attr;
  pthread_mutex_t em;
  RTEST_SETUP(pthread_mutexattr_init(&attr));
  RTEST_SETUP(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK));
  RTEST_CALL(pthread_mutex_init(&em, &attr));
  pthread_mutexattr_destroy(&attr);
  RTEST_CALL(pthread_cond_init(&cv, NULL));
  RTEST_CALL(pthread_cond_wait(&cv, &em));             /* EPERM */
  past = rtest_past(CLOCK_REALTIME);
  RTEST_CALL(pthread_cond_timedwait(&cv, &em, &past)); /* EPERM */
  past = rtest_past(CLOCK_MONOTONIC);
  RTEST_CALL(pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC, &past)); /* EPERM */
  RTEST_CALL(pthread_mutex_lock(&em));   /* 0: the failed waits did not take it */
  RTEST_CALL(pthread_mutex_trylock(&em)); /* EBUSY: held once */
  RTEST_CALL(pthread_mutex_unlock(&em));
  RTEST_CALL(pthread_mutex_unlock(&em)); /* EPERM: not held */
  g_mu = &em;
  rtest_in_thread(other_thread_lock_unlock, NULL); /* free */
  RTEST_CALL(pthread_mutex_lock(&em));
  RTEST_CALL(pthread_mutex_unlock(&em));
  RTEST_CALL(pthread_cond_destroy(&cv));
  RTEST_CALL(pthread_mutex_destroy(&em));

  rtest_ctx = "cnd timedwait";
  cnd_t cnd;
  mtx_t mx;
  C11_CALL(cnd_init(&cnd));
  C11_CALL(mtx_init(&mx, mtx_plain));
  C11_CALL(cnd_signal(&cnd));
  C11_CALL(cnd_broadcast(&cnd));
  C11_CALL(mtx_lock(&mx));
  past = rtest_past(CLOCK_REALTIME);
  C11_CALL(cnd_timedwait(&cnd, &mx, &past)); /* thrd_timedout, holding mx again */
  C11_CALL(mtx_trylock(&mx));               /* busy */
  C11_CALL(mtx_unlock(&mx));
  RTEST_VOID(cnd_destroy(&cnd));
  RTEST_VOID(mtx_destroy(&mx));
}

int main(void) {
  rtest_line_buffered();
  static const struct mutex_case kCases[] = {
      {"no attribute", -1, 0, 0, 0, 0},
      {"normal", PTHREAD_MUTEX_NORMAL, 0, 0, 0, 0},
      {"errorcheck", PTHREAD_MUTEX_ERRORCHECK, 0, 0, 0, 1},
      {"recursive", PTHREAD_MUTEX_RECURSIVE, 0, 0, 0, 1},
      {"default", PTHREAD_MUTEX_DEFAULT, 0, 0, 0, 0},
      {"adaptive", PTHREAD_MUTEX_ADAPTIVE_NP, 0, 0, 0, 0},
      {"robust normal", PTHREAD_MUTEX_NORMAL, 1, 0, 0, 1},
      {"robust errorcheck", PTHREAD_MUTEX_ERRORCHECK, 1, 0, 0, 1},
      {"robust recursive", PTHREAD_MUTEX_RECURSIVE, 1, 0, 0, 1},
      {"pi normal", PTHREAD_MUTEX_NORMAL, 0, PTHREAD_PRIO_INHERIT, 0, 1},
      {"pi errorcheck", PTHREAD_MUTEX_ERRORCHECK, 0, PTHREAD_PRIO_INHERIT, 0, 1},
      {"pi recursive", PTHREAD_MUTEX_RECURSIVE, 0, PTHREAD_PRIO_INHERIT, 0, 1},
      {"process-shared normal", PTHREAD_MUTEX_NORMAL, 0, 0, 1, 0},
      {"process-shared errorcheck", PTHREAD_MUTEX_ERRORCHECK, 0, 0, 1, 1},
  };
  for (size_t i = 0; i < sizeof kCases / sizeof kCases[0]; i++) mutex_battery(&kCases[i]);
  robust_owner_dies();
  rwlock_battery("default", -1);
  rwlock_battery("prefer writer nonrecursive", PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  spin_battery("private", PTHREAD_PROCESS_PRIVATE);
  spin_battery("shared", PTHREAD_PROCESS_SHARED);
  mtx_battery("plain", mtx_plain);
  mtx_battery("timed", mtx_timed);
  mtx_battery("plain recursive", mtx_plain | mtx_recursive);
  mtx_battery("timed recursive", mtx_timed | mtx_recursive);
  cond_battery();
  rtest_ctx = "end";
  RTEST_SAY("done");
  return 0;
}
