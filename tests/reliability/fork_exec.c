/* fork_exec: fork, exec, posix_spawn and vfork from a multi-threaded program that locks.
 *
 * While one thread holds a mutex (g_held_mu) and another keeps creating, nesting and destroying
 * fresh heap mutexes (new locks and new lock-order edges: the engine's slow path, under its own
 * locks), the main thread forks 50 children. Each child finds g_held_mu busy (trylock EBUSY, as
 * fork copies it), locks/unlocks a fresh mutex, nests two fresh mutexes, mallocs, and _exit()s
 * with a bit set for every call that failed; the parent waits for all of them and prints each
 * status. A child that hangs (an engine lock copied in its held state) is killed after 20 s and
 * printed as hung. Then: a child that returns through exit() (atexit handlers and destructors
 * run in the child), a fork from a second thread, fork+exec of /bin/true, posix_spawn of
 * /bin/true, vfork+_exit(7), vfork+exec of /bin/true, and pthread_atfork handlers that take two
 * locks in prepare and release them in parent and child. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rtest.h"

extern char** environ;

enum { kChildren = 50, kHangLimitMs = 20000 };

pthread_mutex_t g_held_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_atfork_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_atfork_b = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_holding, g_stop_holder, g_stop_churn;
static atomic_int g_prepared, g_in_parent, g_in_child;

static void* holder(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_held_mu);
  atomic_store(&g_holding, 1);
  while (!atomic_load(&g_stop_holder)) sched_yield();
  pthread_mutex_unlock(&g_held_mu);
  return NULL;
}

static void* churn(void* arg) {
  (void)arg;
  while (!atomic_load(&g_stop_churn)) {
    pthread_mutex_t* a = malloc(sizeof *a);
    pthread_mutex_t* b = malloc(sizeof *b);
    if (a == NULL || b == NULL) abort();
    pthread_mutex_init(a, NULL);
    pthread_mutex_init(b, NULL);
    pthread_mutex_lock(a);
    pthread_mutex_lock(b);
    pthread_mutex_unlock(b);
    pthread_mutex_unlock(a);
    pthread_mutex_destroy(b);
    pthread_mutex_destroy(a);
    free(b);
    free(a);
  }
  return NULL;
}

/* What a child does: every failing call sets one bit of the exit status. */
static int child_work(int expect_held_busy) {
  int bits = 0;
  if (expect_held_busy) {
    if (pthread_mutex_trylock(&g_held_mu) != EBUSY) bits |= 1;
  }
  pthread_mutex_t m;
  if (pthread_mutex_init(&m, NULL) != 0 || pthread_mutex_lock(&m) != 0 ||
      pthread_mutex_unlock(&m) != 0 || pthread_mutex_destroy(&m) != 0) {
    bits |= 2;
  }
  pthread_mutex_t* a = malloc(sizeof *a);
  pthread_mutex_t* b = malloc(sizeof *b);
  if (a == NULL || b == NULL) return bits | 4;
  if (pthread_mutex_init(a, NULL) != 0 || pthread_mutex_init(b, NULL) != 0 ||
      pthread_mutex_lock(a) != 0 || pthread_mutex_lock(b) != 0 || pthread_mutex_unlock(b) != 0 ||
      pthread_mutex_unlock(a) != 0 || pthread_mutex_destroy(a) != 0 ||
      pthread_mutex_destroy(b) != 0) {
    bits |= 8;
  }
  free(a);
  free(b);
  return bits;
}

/* Waits for pid and describes how it ended; kills it when it has not ended after the limit. */
static const char* wait_child(pid_t pid, char* buf, size_t size) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) {
        snprintf(buf, size, "exited %d", WEXITSTATUS(status));
      } else if (WIFSIGNALED(status)) {
        snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
      } else {
        snprintf(buf, size, "status 0x%x", status);
      }
      return buf;
    }
    if (r < 0) {
      snprintf(buf, size, "waitpid failed: %s", strerror(errno));
      return buf;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (ms > kHangLimitMs) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      snprintf(buf, size, "hung (killed after %d ms)", kHangLimitMs);
      return buf;
    }
    struct timespec d = {0, 2000000};
    nanosleep(&d, NULL);
  }
}

static void fork_chain(void) {
  rtest_ctx = "fork chain";
  pthread_t h, c;
  RTEST_SETUP(pthread_create(&h, NULL, holder, NULL));
  RTEST_SETUP(pthread_create(&c, NULL, churn, NULL));
  while (!atomic_load(&g_holding)) sched_yield();
  pid_t pids[kChildren];
  for (int i = 0; i < kChildren; i++) {
    fflush(stdout);
    pids[i] = fork();
    if (pids[i] == 0) _exit(child_work(1));
    if (pids[i] < 0) RTEST_SAY("fork %d failed: %s", i, strerror(errno));
  }
  char buf[96];
  for (int i = 0; i < kChildren; i++) {
    if (pids[i] > 0) RTEST_SAY("child %d: %s", i, wait_child(pids[i], buf, sizeof buf));
  }

  /* A child that ends through exit(): atexit handlers and destructors run there. */
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) exit(child_work(1));
  RTEST_SAY("child using exit(): %s", wait_child(pid, buf, sizeof buf));

  atomic_store(&g_stop_churn, 1);
  atomic_store(&g_stop_holder, 1);
  RTEST_SETUP(pthread_join(c, NULL));
  RTEST_SETUP(pthread_join(h, NULL));
  RTEST_CALL(pthread_mutex_trylock(&g_held_mu));
  RTEST_CALL(pthread_mutex_unlock(&g_held_mu));
}

static void* fork_from_thread(void* arg) {
  char* result = arg;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) _exit(child_work(0));
  wait_child(pid, result, 96);
  return NULL;
}

static void exec_and_spawn(void) {
  char buf[96];
  rtest_ctx = "fork from a thread";
  rtest_in_thread(fork_from_thread, buf);
  RTEST_SAY("child: %s", buf);

  rtest_ctx = "fork+exec /bin/true";
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/true", "true", (char*)NULL);
    _exit(127);
  }
  RTEST_SAY("child: %s", wait_child(pid, buf, sizeof buf));

  rtest_ctx = "posix_spawn /bin/true";
  char* argv[] = {"true", NULL};
  int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
  RTEST_SAY("posix_spawn -> %d %s", rc, rtest_errname(rc));
  if (rc == 0) RTEST_SAY("child: %s", wait_child(pid, buf, sizeof buf));

  rtest_ctx = "vfork+_exit(7)";
  fflush(stdout);
  pid = vfork();
  if (pid == 0) _exit(7);
  RTEST_SAY("child: %s", wait_child(pid, buf, sizeof buf));

  rtest_ctx = "vfork+exec /bin/true";
  fflush(stdout);
  pid = vfork();
  if (pid == 0) {
    execl("/bin/true", "true", (char*)NULL);
    _exit(127);
  }
  RTEST_SAY("child: %s", wait_child(pid, buf, sizeof buf));
}

static void prepare(void) {
  pthread_mutex_lock(&g_atfork_a);
  pthread_mutex_lock(&g_atfork_b);
  atomic_fetch_add(&g_prepared, 1);
}
static void in_parent(void) {
  pthread_mutex_unlock(&g_atfork_b);
  pthread_mutex_unlock(&g_atfork_a);
  atomic_fetch_add(&g_in_parent, 1);
}
static void in_child(void) {
  pthread_mutex_unlock(&g_atfork_b);
  pthread_mutex_unlock(&g_atfork_a);
  atomic_fetch_add(&g_in_child, 1);
}

static void atfork_handlers(void) {
  rtest_ctx = "pthread_atfork";
  RTEST_CALL(pthread_atfork(prepare, in_parent, in_child));
  char buf[96];
  for (int i = 0; i < 3; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      int bits = child_work(0);
      if (atomic_load(&g_in_child) != 1) bits |= 16;
      if (pthread_mutex_trylock(&g_atfork_a) != 0 || pthread_mutex_unlock(&g_atfork_a) != 0) {
        bits |= 32;
      }
      _exit(bits);
    }
    RTEST_SAY("child %d: %s", i, wait_child(pid, buf, sizeof buf));
  }
  RTEST_SAY("prepare ran %d, parent ran %d, child ran %d (in the parent)",
            atomic_load(&g_prepared), atomic_load(&g_in_parent), atomic_load(&g_in_child));
  RTEST_CALL(pthread_mutex_trylock(&g_atfork_a));
  RTEST_CALL(pthread_mutex_trylock(&g_atfork_b));
  RTEST_CALL(pthread_mutex_unlock(&g_atfork_b));
  RTEST_CALL(pthread_mutex_unlock(&g_atfork_a));
}

int main(void) {
  rtest_line_buffered();
  fork_chain();
  exec_and_spawn();
  atfork_handlers();
  printf("end: done\n");
  return 0;
}
