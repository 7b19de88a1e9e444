// double_lock_hang: a thread locks a normal (non-recursive, non-error-checking) mutex it already
// holds: the real call blocks forever. Expected under the shim: double_lock in the report before
// the program is killed (and, once the thread has hung past the stall threshold, deadlock: a
// thread waiting for itself).
#include <pthread.h>

#include "itest.h"

pthread_mutex_t g_cache_mu = PTHREAD_MUTEX_INITIALIZER;

static void Refresh(void) { ITEST_OK(pthread_mutex_lock(&g_cache_mu)); }  // forgot: caller holds it

int main(void) {
  ITEST_OK(pthread_mutex_lock(&g_cache_mu));
  Refresh();
  return 0;
}
