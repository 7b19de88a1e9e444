// trylock_backoff: two threads run at the same time; one takes g_mu_a then *tries* g_mu_b, the
// other takes g_mu_b then *tries* g_mu_a, and each backs off (releases and retries) when the try
// fails. The opposite orders cannot deadlock because no thread ever blocks while holding a lock.
// Expected under the shim: no finding (a successful trylock adds no edge into the lock), no edge.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "itest.h"

enum { kRounds = 2000 };

pthread_mutex_t g_mu_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_mu_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start_barrier;

struct Worker {
  pthread_mutex_t* first;
  pthread_mutex_t* second;
  long backoffs;
};

static void* Run(void* arg) {
  struct Worker* w = arg;
  int rc = pthread_barrier_wait(&start_barrier);
  if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) ITEST_OK(rc);
  for (int done = 0; done < kRounds;) {
    ITEST_OK(pthread_mutex_lock(w->first));
    rc = pthread_mutex_trylock(w->second);
    if (rc == 0) {
      ++done;
      ITEST_OK(pthread_mutex_unlock(w->second));
      ITEST_OK(pthread_mutex_unlock(w->first));
    } else {
      ITEST_EXPECT_RC(rc, EBUSY);
      ITEST_OK(pthread_mutex_unlock(w->first));
      ++w->backoffs;
      sched_yield();
    }
  }
  return NULL;
}

int main(void) {
  struct Worker workers[2] = {{&g_mu_a, &g_mu_b, 0}, {&g_mu_b, &g_mu_a, 0}};
  pthread_t threads[2];
  ITEST_OK(pthread_barrier_init(&start_barrier, NULL, 2));
  for (int i = 0; i < 2; ++i) ITEST_OK(pthread_create(&threads[i], NULL, Run, &workers[i]));
  for (int i = 0; i < 2; ++i) ITEST_OK(pthread_join(threads[i], NULL));
  ITEST_OK(pthread_barrier_destroy(&start_barrier));
  printf("trylock_backoff: %d rounds per thread, backoffs %ld + %ld\n", kRounds,
         workers[0].backoffs, workers[1].backoffs);
  return 0;
}
