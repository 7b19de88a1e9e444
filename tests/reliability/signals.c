/* signals: locks taken in signal handlers, and a program that relies on its signal mask.
 *
 * Part "handler": a SIGUSR1 handler locks and unlocks a pthread mutex and a spinlock while the
 * main thread loops malloc/free and lock/unlock of another mutex (so signals land inside the
 * shim's lock, unlock and free interceptors); a second thread sends SIGUSR1 to the main thread
 * 5000 times, each time waiting until the handler has run, so the count handled is exact.
 * Part "sigwait": SIGTERM is blocked in every thread the program creates, one thread sigwait()s
 * for it and main sends kill(getpid(), SIGTERM); natively the sigwait thread gets it and the
 * program exits 0. A shim whose own threads leave SIGTERM unblocked lets the kernel deliver it
 * to one of them: the process dies of SIGTERM (or the sigwait hangs).
 * Usage: signals [handler|sigwait]... (default: sigwait then handler). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rtest.h"

enum { kSignals = 5000 };

pthread_mutex_t g_handler_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_loop_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_spinlock_t g_handler_spin;
static volatile sig_atomic_t g_handled;
static volatile sig_atomic_t g_handler_failures;
static atomic_int g_sender_done;
static pthread_t g_main_thread;

static void on_usr1(int sig) {
  (void)sig;
  int saved = errno;
  if (pthread_mutex_lock(&g_handler_mu) != 0) g_handler_failures++;
  if (pthread_spin_lock(&g_handler_spin) != 0) g_handler_failures++;
  if (pthread_spin_unlock(&g_handler_spin) != 0) g_handler_failures++;
  if (pthread_mutex_unlock(&g_handler_mu) != 0) g_handler_failures++;
  g_handled++;
  errno = saved;
}

static void* sender(void* arg) {
  (void)arg;
  int kill_failures = 0;
  for (int i = 0; i < kSignals; i++) {
    if (pthread_kill(g_main_thread, SIGUSR1) != 0) kill_failures++;
    while (g_handled == i) sched_yield(); /* one signal in flight at a time */
  }
  atomic_store(&g_sender_done, 1);
  return (void*)(long)kill_failures;
}

static void part_handler(void) {
  rtest_ctx = "handler";
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  RTEST_CALL(sigaction(SIGUSR1, &sa, NULL));
  RTEST_CALL(pthread_spin_init(&g_handler_spin, PTHREAD_PROCESS_PRIVATE));
  g_main_thread = pthread_self();
  pthread_t t;
  RTEST_SETUP(pthread_create(&t, NULL, sender, NULL));
  long loop_failures = 0;
  unsigned size = 1;
  while (!atomic_load(&g_sender_done)) {
    size = size * 1103515245u + 12345u;
    void* p = malloc(16 + (size >> 20) % 4096);
    if (p == NULL) loop_failures++;
    if (pthread_mutex_lock(&g_loop_mu) != 0) loop_failures++;
    if (p != NULL) memset(p, 1, 16);
    if (pthread_mutex_unlock(&g_loop_mu) != 0) loop_failures++;
    free(p);
  }
  void* kill_failures;
  RTEST_SETUP(pthread_join(t, &kill_failures));
  RTEST_SAY("signals handled: %d of %d", (int)g_handled, kSignals);
  RTEST_SAY("failed lock calls in the handler: %d", (int)g_handler_failures);
  RTEST_SAY("failed calls in the main loop: %ld", loop_failures);
  RTEST_SAY("failed pthread_kill calls: %ld", (long)kill_failures);
  RTEST_CALL(pthread_mutex_trylock(&g_handler_mu));
  RTEST_CALL(pthread_mutex_unlock(&g_handler_mu));
  RTEST_CALL(pthread_spin_trylock(&g_handler_spin));
  RTEST_CALL(pthread_spin_unlock(&g_handler_spin));
  signal(SIGUSR1, SIG_DFL);
}

static int g_sigwait_rc = -1, g_sigwait_sig;
static void* sigwaiter(void* arg) {
  g_sigwait_rc = sigwait((sigset_t*)arg, &g_sigwait_sig); /* printed by main after the join */
  return NULL;
}

/* A worker that locks and unlocks, so the shim has work (and may start its own threads). */
pthread_mutex_t g_work_mu = PTHREAD_MUTEX_INITIALIZER;
static void* worker(void* arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    pthread_mutex_lock(&g_work_mu);
    pthread_mutex_unlock(&g_work_mu);
  }
  return NULL;
}

static void part_sigwait(void) {
  rtest_ctx = "sigwait";
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  /* Blocked here, inherited by every thread created from now on. */
  RTEST_CALL(pthread_sigmask(SIG_BLOCK, &set, NULL));
  pthread_t w, t;
  RTEST_SETUP(pthread_create(&w, NULL, worker, NULL));
  RTEST_SETUP(pthread_join(w, NULL));
  RTEST_SETUP(pthread_create(&t, NULL, sigwaiter, &set));
  int rc = kill(getpid(), SIGTERM); /* process-directed: only the sigwait()er may take it */
  RTEST_SETUP(pthread_join(t, NULL));
  RTEST_SAY("kill(getpid(), SIGTERM) -> %d", rc);
  RTEST_SAY("sigwait -> %d %s, got %s", g_sigwait_rc, rtest_errname(g_sigwait_rc),
            g_sigwait_sig == SIGTERM ? "SIGTERM" : "another signal");
  RTEST_CALL(pthread_sigmask(SIG_UNBLOCK, &set, NULL));
}

int main(int argc, char** argv) {
  rtest_line_buffered();
  if (argc == 1) {
    part_sigwait();
    part_handler();
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "handler") == 0) {
      part_handler();
    } else if (strcmp(argv[i], "sigwait") == 0) {
      part_sigwait();
    } else {
      fprintf(stderr, "usage: signals [handler|sigwait]...\n");
      return 2;
    }
  }
  printf("end: done\n");
  return 0;
}
