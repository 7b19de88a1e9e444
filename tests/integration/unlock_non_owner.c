// unlock_non_owner: the main thread locks an error-checking mutex; a second thread unlocks it.
// The real call returns EPERM and leaves the mutex locked; the program checks that this return
// code reaches it unchanged, then the owner unlocks properly.
// Exit status: 0 when the foreign unlock returned EPERM, 1 otherwise.
// Expected under the shim: one unlock_not_held.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_owner_mu;

static void* UnlockForeign(void* arg) {
  int* rc = arg;
  *rc = pthread_mutex_unlock(&g_owner_mu);
  return NULL;
}

int main(void) {
  pthread_mutexattr_t attr;
  ITEST_OK(pthread_mutexattr_init(&attr));
  ITEST_OK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK));
  ITEST_OK(pthread_mutex_init(&g_owner_mu, &attr));
  ITEST_OK(pthread_mutexattr_destroy(&attr));

  ITEST_OK(pthread_mutex_lock(&g_owner_mu));
  int rc = -1;
  pthread_t thread;
  ITEST_OK(pthread_create(&thread, NULL, UnlockForeign, &rc));
  ITEST_OK(pthread_join(thread, NULL));
  ITEST_OK(pthread_mutex_unlock(&g_owner_mu));
  ITEST_OK(pthread_mutex_destroy(&g_owner_mu));
  if (rc != EPERM) {
    fprintf(stderr, "unlock_non_owner: foreign unlock returned %d, expected EPERM\n", rc);
    return 1;
  }
  return 0;
}
