// destroy_held: a default mutex is destroyed while locked. glibc refuses with EBUSY and leaves
// the mutex intact; the program checks that code, then unlocks and destroys the mutex properly.
// Exit status: 0 when the early destroy returned EBUSY, 1 otherwise.
// Expected under the shim: one destroy_held (and nothing about the later, correct unlock).
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_cache_mu;

int main(void) {
  ITEST_OK(pthread_mutex_init(&g_cache_mu, NULL));
  ITEST_OK(pthread_mutex_lock(&g_cache_mu));
  int rc = pthread_mutex_destroy(&g_cache_mu);
  ITEST_OK(pthread_mutex_unlock(&g_cache_mu));
  ITEST_OK(pthread_mutex_destroy(&g_cache_mu));
  if (rc != EBUSY) {
    fprintf(stderr, "destroy_held: destroy while held returned %d, expected EBUSY\n", rc);
    return 1;
  }
  return 0;
}
