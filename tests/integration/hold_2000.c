// One thread holds 2,000 mutexes at once, then releases them (issue 14): lockaudit's learning
// (2,000 new contexts, each deeper than the last) must stay fast enough that no hold passes the
// default stall threshold, so the run has no finding at all.
#include <pthread.h>
#include <stdlib.h>

enum { kLocks = 2000 };

int main(void) {
  pthread_mutex_t* locks = calloc(kLocks, sizeof(pthread_mutex_t));
  if (locks == NULL) return 2;
  for (int i = 0; i < kLocks; ++i) pthread_mutex_init(&locks[i], NULL);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kLocks; ++i) pthread_mutex_lock(&locks[i]);
    for (int i = kLocks; i-- > 0;) pthread_mutex_unlock(&locks[i]);
  }
  for (int i = 0; i < kLocks; ++i) pthread_mutex_destroy(&locks[i]);
  free(locks);
  return 0;
}
