// thread_exit_holding: a thread locks g_session_mu and returns from its start routine without
// unlocking it. Nobody touches the mutex afterwards (it could never be taken again).
// Expected under the shim: one thread_exit_holding.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_session_mu = PTHREAD_MUTEX_INITIALIZER;

static void* LockAndLeave(void* arg) {
  (void)arg;
  ITEST_OK(pthread_mutex_lock(&g_session_mu));
  return NULL;
}

int main(void) {
  pthread_t thread;
  ITEST_OK(pthread_create(&thread, NULL, LockAndLeave, NULL));
  ITEST_OK(pthread_join(thread, NULL));
  return 0;
}
