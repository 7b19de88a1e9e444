/* false_sharing: two mutexes side by side in one struct (both lock words on one 64-byte cache
 * line), each hammered by its own thread; and the same two counters with each mutex on a line of
 * its own. Expected under the shim: one lock_false_sharing finding naming `shared` and
 * `shared+0x28` (the data symbol and the offset of misses_mu in it); none for the padded pair; with the argument "one-thread", one thread takes
 * both locks of the shared line: no finding. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct Counters {
  pthread_mutex_t hits_mu; /* 40 bytes: misses_mu's lock word lands at byte 40 of the line */
  pthread_mutex_t misses_mu;
  long hits, misses;
} __attribute__((aligned(64)));

struct PaddedCounters {
  _Alignas(64) pthread_mutex_t hits_mu;
  _Alignas(64) pthread_mutex_t misses_mu;
  long hits, misses;
};

struct Counters shared = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 0};
struct PaddedCounters padded = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 0};

enum { kRounds = 50000 };

static void* count_hits(void* arg) {
  (void)arg;
  for (int i = 0; i < kRounds; ++i) {
    pthread_mutex_lock(&shared.hits_mu);
    ++shared.hits;
    pthread_mutex_unlock(&shared.hits_mu);
    pthread_mutex_lock(&padded.hits_mu);
    ++padded.hits;
    pthread_mutex_unlock(&padded.hits_mu);
  }
  return NULL;
}

static void* count_misses(void* arg) {
  (void)arg;
  for (int i = 0; i < kRounds; ++i) {
    pthread_mutex_lock(&shared.misses_mu);
    ++shared.misses;
    pthread_mutex_unlock(&shared.misses_mu);
    pthread_mutex_lock(&padded.misses_mu);
    ++padded.misses;
    pthread_mutex_unlock(&padded.misses_mu);
  }
  return NULL;
}

static void* count_both(void* arg) {
  count_hits(arg);
  count_misses(arg);
  return NULL;
}

int main(int argc, char** argv) {
  const int one_thread = argc > 1 && strcmp(argv[1], "one-thread") == 0;
  pthread_t a, b;
  if (one_thread) {
    pthread_create(&a, NULL, count_both, NULL);
    pthread_join(a, NULL);
  } else {
    pthread_create(&a, NULL, count_hits, NULL);
    pthread_create(&b, NULL, count_misses, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
  }
  printf("hits %ld/%ld, misses %ld/%ld\n", shared.hits, padded.hits, shared.misses, padded.misses);
  return 0;
}
