// double_lock: a thread locks an error-checking mutex it already holds. The real call returns
// EDEADLK instead of hanging; the program checks that this return code reaches it unchanged.
// Exit status: 0 when the second lock returned EDEADLK, 1 otherwise.
// Expected under the shim: one double_lock.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_journal_mu;

int main(void) {
  pthread_mutexattr_t attr;
  ITEST_OK(pthread_mutexattr_init(&attr));
  ITEST_OK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK));
  ITEST_OK(pthread_mutex_init(&g_journal_mu, &attr));
  ITEST_OK(pthread_mutexattr_destroy(&attr));

  ITEST_OK(pthread_mutex_lock(&g_journal_mu));
  int rc = pthread_mutex_lock(&g_journal_mu);
  ITEST_OK(pthread_mutex_unlock(&g_journal_mu));
  ITEST_OK(pthread_mutex_destroy(&g_journal_mu));
  if (rc != EDEADLK) {
    fprintf(stderr, "double_lock: second lock returned %d (%s), expected EDEADLK\n", rc, strerror(rc));
    return 1;
  }
  return 0;
}
