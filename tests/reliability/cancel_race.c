/* cancel_race: a process's first pthread_cancel arrives while its target is in the middle of lock
 * calls that make a tool learn: new locks, new lock-order edges, a lock-order cycle among new
 * locks (whose report a tool writes: write(2) is a cancellation point). Lock calls are none, so
 * the cancel must be acted on only where the thread reaches one itself.
 *
 * kChildren forked children, each a process whose first cancel it is: a worker thread loops over
 * fresh heap mutexes (outer -> a -> b, then b -> a: a cycle every round), with pthread_testcancel
 * between rounds, the only cancellation point it reaches; the child cancels it after 0 to 2 ms
 * (a different delay per child) and joins. Printed, per child: how the worker ended, where the
 * cancel was acted on (its cleanup handler records whether it was inside the lock calls), and
 * that the child locks the worker's outer mutex after it. Nothing printed depends on timing. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rtest.h"

enum { kChildren = 24 };

static pthread_mutex_t g_outer = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_in_lock_calls;
static atomic_int g_cancelled_inside = -1;

static void note_where(void* arg) {
  (void)arg;
  atomic_store(&g_cancelled_inside, atomic_load(&g_in_lock_calls));
}

static void one_round(void) {
  pthread_mutex_t* a = malloc(sizeof *a);
  pthread_mutex_t* b = malloc(sizeof *b);
  if (a == NULL || b == NULL) abort();
  pthread_mutex_init(a, NULL);
  pthread_mutex_init(b, NULL);
  pthread_mutex_lock(&g_outer);
  pthread_mutex_lock(a);
  pthread_mutex_lock(b);
  pthread_mutex_unlock(b);
  pthread_mutex_unlock(a);
  pthread_mutex_unlock(&g_outer);
  pthread_mutex_lock(b); /* b -> a: the inverse order, a cycle with the round's a -> b */
  pthread_mutex_lock(a);
  pthread_mutex_unlock(a);
  pthread_mutex_unlock(b);
  pthread_mutex_destroy(b);
  pthread_mutex_destroy(a);
  free(b);
  free(a);
}

static void* worker(void* arg) {
  (void)arg;
  pthread_cleanup_push(note_where, NULL);
  for (;;) {
    atomic_store(&g_in_lock_calls, 1);
    one_round();
    atomic_store(&g_in_lock_calls, 0);
    pthread_testcancel(); /* the only cancellation point */
  }
  pthread_cleanup_pop(0);
  return NULL;
}

static int child(int index) {
  rtest_ctx = "child";
  pthread_t t;
  RTEST_SETUP(pthread_create(&t, NULL, worker, NULL));
  struct timespec d = {0, (long)(index * 2000000L / kChildren)};
  nanosleep(&d, NULL);
  pthread_cancel(t); /* the process's first */
  void* result = NULL;
  pthread_join(t, &result);
  const int inside = atomic_load(&g_cancelled_inside);
  printf("child: worker %s, cancel acted on %s\n",
         result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "not cancelled",
         inside == 0 ? "at pthread_testcancel" : inside == 1 ? "INSIDE LOCK CALLS" : "nowhere");
  RTEST_CALL(pthread_mutex_trylock(&g_outer));
  RTEST_CALL(pthread_mutex_unlock(&g_outer));
  fflush(stdout);
  return 0;
}

int main(void) {
  rtest_line_buffered();
  for (int i = 0; i < kChildren; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) _exit(child(i));
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      printf("child %d: did not exit normally\n", i);
    }
  }
  printf("end: done\n");
  return 0;
}
