// itest.h: the error-checking macros and the sleep shared by the C integration programs.
//
// Deliberately not a lockaudit header: the programs in this folder are "unmodified programs"
// (DESIGN.md §1) that know nothing about the auditor; they only include the C library.
// A call that fails unexpectedly ends the program with status 2, which the runner reports
// as an exit-status mismatch.
#ifndef LOCKAUDIT_TESTS_INTEGRATION_ITEST_H_
#define LOCKAUDIT_TESTS_INTEGRATION_ITEST_H_

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Evaluates `call` (an int return code in the pthread style) once and exits with status 2
// unless it equals `want`.
#define ITEST_EXPECT_RC(call, want)                                                   \
  do {                                                                                \
    int itest_rc_ = (call);                                                           \
    if (itest_rc_ != (want)) {                                                        \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, \
              #call, itest_rc_, strerror(itest_rc_), (int)(want));                    \
      exit(2);                                                                        \
    }                                                                                 \
  } while (0)

#define ITEST_OK(call) ITEST_EXPECT_RC(call, 0)

// Sleeps `ms` milliseconds, resuming after a signal. (Includers define _POSIX_C_SOURCE 200809L
// before any header, for nanosleep.)
static inline void itest_sleep_ms(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&d, &d) != 0) {
  }
}

#endif  // LOCKAUDIT_TESTS_INTEGRATION_ITEST_H_
