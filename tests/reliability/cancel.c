/* cancel: thread cancellation around interposed calls.
 *
 * Part 1: a thread blocked in pthread_cond_wait is cancelled; its cleanup handler
 * (pthread_cleanup_push) unlocks the mutex the cancelled wait re-acquired. Printed: that it was
 * cancelled, that the cleanup ran, and that main and another thread can lock the mutex after.
 * Part 2: pthread_mutex_lock/unlock/init/destroy are not cancellation points. A thread with a
 * cancel pending (enabled, deferred) locks many fresh mutexes - first acquisition of a new lock,
 * new lock-order edges by nesting two fresh heap mutexes and a stack one, rwlocks and spinlocks -
 * and must get through all of it; only its pthread_testcancel() at the end acts on the cancel.
 * A shim that reaches a cancellation point (write, open, read, ...) inside those calls gets the
 * thread cancelled there, in the middle of a lock call. The thread records how far it got (it
 * prints nothing itself: printf is a cancellation point), main prints it.
 * Part 3: a cancel sent while cancellation is disabled: lock calls and pthread_testcancel do
 * nothing until pthread_setcancelstate enables it; the next pthread_testcancel acts on it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "rtest.h"

enum { kRounds = 2000 };

pthread_mutex_t g_wait_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_wait_cv = PTHREAD_COND_INITIALIZER;
static int g_waiting;
static atomic_int g_cleanup_ran;

static void unlock_cleanup(void* m) {
  atomic_store(&g_cleanup_ran, 1);
  pthread_mutex_unlock((pthread_mutex_t*)m);
}

static void* cond_waiter(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_wait_mu);
  pthread_cleanup_push(unlock_cleanup, &g_wait_mu);
  g_waiting = 1;
  for (;;) pthread_cond_wait(&g_wait_cv, &g_wait_mu); /* cancelled here */
  pthread_cleanup_pop(1);
  return NULL;
}

static void* try_lock_unlock(void* arg) {
  pthread_mutex_t* m = arg;
  rtest_ctx = "  other thread";
  RTEST_CALL(pthread_mutex_trylock(m));
  RTEST_CALL(pthread_mutex_unlock(m));
  return NULL;
}

static void cancel_in_cond_wait(void) {
  rtest_ctx = "cancel in pthread_cond_wait";
  pthread_t t;
  RTEST_SETUP(pthread_create(&t, NULL, cond_waiter, NULL));
  for (;;) { /* the waiter has released the mutex inside pthread_cond_wait */
    pthread_mutex_lock(&g_wait_mu);
    int waiting = g_waiting;
    pthread_mutex_unlock(&g_wait_mu);
    if (waiting) break;
    sched_yield();
  }
  RTEST_CALL(pthread_cancel(t));
  void* result = NULL;
  RTEST_CALL(pthread_join(t, &result));
  RTEST_SAY("thread result: %s", result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "other");
  RTEST_SAY("cleanup handler ran: %d", atomic_load(&g_cleanup_ran));
  RTEST_CALL(pthread_mutex_lock(&g_wait_mu));
  RTEST_CALL(pthread_mutex_unlock(&g_wait_mu));
  rtest_in_thread(try_lock_unlock, &g_wait_mu);
  rtest_ctx = "cancel in pthread_cond_wait";
  RTEST_CALL(pthread_cond_signal(&g_wait_cv));
}

/* ---- part 2: lock calls with a cancel pending ---------------------------------------------- */

static atomic_int g_cancel_sent;
static atomic_int g_reached; /* the last stage the thread finished */
static atomic_int g_rounds_done;
pthread_mutex_t g_outer_mu = PTHREAD_MUTEX_INITIALIZER;

static void locks_with_cancel_pending(void) {
  for (int i = 0; i < kRounds; i++) {
    pthread_mutex_t* a = malloc(sizeof *a);
    pthread_mutex_t* b = malloc(sizeof *b);
    pthread_mutex_t s;
    pthread_rwlock_t rw;
    pthread_spinlock_t sp;
    if (a == NULL || b == NULL) abort();
    pthread_mutex_init(a, NULL);
    pthread_mutex_init(b, NULL);
    pthread_mutex_init(&s, NULL);
    pthread_rwlock_init(&rw, NULL);
    pthread_spin_init(&sp, PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_lock(&g_outer_mu); /* outer -> a -> b -> s: edges into new locks */
    pthread_mutex_lock(a);
    pthread_mutex_lock(b);
    pthread_mutex_lock(&s);
    pthread_mutex_unlock(&s);
    pthread_mutex_unlock(b);
    pthread_rwlock_wrlock(&rw);
    pthread_spin_lock(&sp);
    pthread_spin_unlock(&sp);
    pthread_rwlock_unlock(&rw);
    pthread_rwlock_rdlock(&rw);
    pthread_rwlock_unlock(&rw);
    if (pthread_mutex_trylock(b) == 0) pthread_mutex_unlock(b);
    pthread_mutex_unlock(a);
    pthread_mutex_unlock(&g_outer_mu);
    pthread_spin_destroy(&sp);
    pthread_rwlock_destroy(&rw);
    pthread_mutex_destroy(&s);
    pthread_mutex_destroy(b);
    pthread_mutex_destroy(a);
    free(b);
    free(a);
    atomic_store(&g_rounds_done, i + 1);
  }
}

static void* pending_cancel_thread(void* arg) {
  (void)arg;
  while (!atomic_load(&g_cancel_sent)) {
  } /* spins: no cancellation point before the cancel is pending */
  atomic_store(&g_reached, 1);
  locks_with_cancel_pending();
  atomic_store(&g_reached, 2);
  pthread_testcancel(); /* the only cancellation point */
  atomic_store(&g_reached, 3);
  return NULL;
}

static void cancel_pending_over_locks(void) {
  rtest_ctx = "cancel pending over lock calls";
  pthread_t t;
  RTEST_SETUP(pthread_create(&t, NULL, pending_cancel_thread, NULL));
  RTEST_CALL(pthread_cancel(t));
  atomic_store(&g_cancel_sent, 1);
  void* result = NULL;
  RTEST_CALL(pthread_join(t, &result));
  RTEST_SAY("thread result: %s", result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "other");
  static const char* const kStages[] = {"started", "waited for the cancel",
                                        "after the lock calls", "after pthread_testcancel"};
  RTEST_SAY("last stage reached: %s; rounds done: %d of %d", kStages[atomic_load(&g_reached)],
            atomic_load(&g_rounds_done), kRounds);
  RTEST_CALL(pthread_mutex_trylock(&g_outer_mu));
  RTEST_CALL(pthread_mutex_unlock(&g_outer_mu));
}

/* ---- part 3: a cancel pending while disabled ----------------------------------------------- */

static atomic_int g_disabled_ready, g_disabled_go, g_disabled_reached;
pthread_mutex_t g_disabled_mu = PTHREAD_MUTEX_INITIALIZER;

static void* disabled_thread(void* arg) {
  (void)arg;
  int old;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  atomic_store(&g_disabled_ready, 1);
  while (!atomic_load(&g_disabled_go)) {
  }
  /* Cancellation points while disabled: nothing happens. */
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&g_disabled_mu);
    pthread_testcancel();
    pthread_mutex_unlock(&g_disabled_mu);
  }
  atomic_store(&g_disabled_reached, 1);
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
  atomic_store(&g_disabled_reached, 2);
  pthread_testcancel();
  atomic_store(&g_disabled_reached, 3);
  return NULL;
}

static void cancel_while_disabled(void) {
  rtest_ctx = "cancel while disabled";
  pthread_t t;
  RTEST_SETUP(pthread_create(&t, NULL, disabled_thread, NULL));
  while (!atomic_load(&g_disabled_ready)) sched_yield();
  RTEST_CALL(pthread_cancel(t));
  atomic_store(&g_disabled_go, 1);
  void* result = NULL;
  RTEST_CALL(pthread_join(t, &result));
  RTEST_SAY("thread result: %s", result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "other");
  RTEST_SAY("last stage reached: %d", atomic_load(&g_disabled_reached));
  RTEST_CALL(pthread_mutex_trylock(&g_disabled_mu));
  RTEST_CALL(pthread_mutex_unlock(&g_disabled_mu));
}

int main(void) {
  rtest_line_buffered();
  cancel_in_cond_wait();
  cancel_pending_over_locks();
  cancel_while_disabled();
  printf("end: done\n");
  return 0;
}
