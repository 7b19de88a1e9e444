// rtest.h: printing helpers shared by the C programs of the reliability suite.
//
// Deliberately not a lockaudit header: these are unmodified programs (DESIGN.md §1) that only
// include the C library. Every call under test prints one line, "<context>: <call> -> <rc>
// errno=<errno>", where errno was set to 1234 just before the call, so a shim that changes a
// return code or clobbers errno changes stdout (differential.sh compares it with the native
// run). Nothing printed depends on timing, addresses, pids or descriptor numbers.
#ifndef LOCKAUDIT_TESTS_RELIABILITY_RTEST_H_
#define LOCKAUDIT_TESTS_RELIABILITY_RTEST_H_

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kRtestErrnoMark = 1234 };

// The symbolic name of a pthread-style return code (an errno value), or "E?" for others.
static inline const char* rtest_errname(int e) {
  switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case EDEADLK: return "EDEADLK";
    case ENOSYS: return "ENOSYS";
    case ENOTSUP: return "ENOTSUP";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case kRtestErrnoMark: return "kept";
    default: return "E?";
  }
}

// The context printed before every line (one thread calls at a time).
static const char* rtest_ctx __attribute__((unused)) = "";

// Runs `call` (an int-returning expression) with errno = 1234 and prints its return code and
// the errno it left.
#define RTEST_CALL(call)                                                                   \
  do {                                                                                     \
    errno = kRtestErrnoMark;                                                               \
    int rtest_rc_ = (call);                                                                \
    int rtest_errno_ = errno;                                                              \
    printf("%s: %s -> %d %s errno=%d\n", rtest_ctx, #call, rtest_rc_,                      \
           rtest_errname(rtest_rc_), rtest_errno_);                                        \
  } while (0)

// Like RTEST_CALL for a call that returns nothing (mtx_destroy, ...): prints only errno.
#define RTEST_VOID(call)                                                                   \
  do {                                                                                     \
    errno = kRtestErrnoMark;                                                               \
    call;                                                                                  \
    int rtest_errno_ = errno;                                                              \
    printf("%s: %s -> void errno=%d\n", rtest_ctx, #call, rtest_errno_);                   \
  } while (0)

// Prints one observation (not a call) in the same format.
#define RTEST_SAY(...)                 \
  do {                                 \
    printf("%s: ", rtest_ctx);         \
    printf(__VA_ARGS__);               \
    printf("\n");                      \
  } while (0)

// Ends the program with status 3 when a setup call (not under test) fails.
#define RTEST_SETUP(call)                                                                  \
  do {                                                                                     \
    int rtest_rc_ = (call);                                                                \
    if (rtest_rc_ != 0) {                                                                  \
      fprintf(stderr, "%s:%d: setup call %s failed: %d (%s)\n", __FILE__, __LINE__, #call, \
              rtest_rc_, strerror(rtest_rc_));                                             \
      exit(3);                                                                             \
    }                                                                                      \
  } while (0)

// An absolute deadline one second in the past on `clock`.
static inline struct timespec rtest_past(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  t.tv_sec -= 1;
  return t;
}

// Runs fn(arg) on a new thread and joins it: the lines it prints come in order.
static inline void rtest_in_thread(void* (*fn)(void*), void* arg) {
  pthread_t t;
  RTEST_SETUP(pthread_create(&t, NULL, fn, arg));
  RTEST_SETUP(pthread_join(t, NULL));
}

// Line-buffered stdout, so lines written before a fork or a crash are not lost or doubled.
static inline void rtest_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

#endif  // LOCKAUDIT_TESTS_RELIABILITY_RTEST_H_
