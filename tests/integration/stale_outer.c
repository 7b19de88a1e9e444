// stale_outer: a lock released by another thread behind its holder's back is no longer held,
// even when it sits deep in the held set, past the top entries and past the first 64. The main
// thread locks 64 `base` mutexes, then `outer`, try-locks 15 mutexes, locks `middle`; a helper thread unlocks `outer` (a normal mutex: glibc lets it);
// then the main thread locks `inner` under `middle`, releases everything, and destroys
// `middle`. `outer` was not held when `inner` was taken, so destroying `middle` must not leave
// an order outer -> inner: a later thread taking inner then outer deadlocks with nothing.
// Expected under the shim: one unlock_not_held (the helper's unlock), no lock_order_cycle.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

static pthread_mutex_t outer = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t inner = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t middle;
static pthread_mutex_t tried[15];
static pthread_mutex_t base[64];

static void* UnlockOuter(void* arg) {
  pthread_mutex_unlock(&outer);
  return arg;
}

static void* InnerThenOuter(void* arg) {
  pthread_mutex_lock(&inner);
  pthread_mutex_lock(&outer);
  pthread_mutex_unlock(&outer);
  pthread_mutex_unlock(&inner);
  return arg;
}

int main(void) {
  pthread_mutex_init(&middle, NULL);
  for (int i = 0; i < 15; ++i) pthread_mutex_init(&tried[i], NULL);
  for (int i = 0; i < 64; ++i) {
    pthread_mutex_init(&base[i], NULL);
    pthread_mutex_lock(&base[i]);
  }
  pthread_mutex_lock(&outer);
  for (int i = 0; i < 15; ++i) {
    if (pthread_mutex_trylock(&tried[i]) != 0) return 1;
  }
  pthread_mutex_lock(&middle);
  pthread_t t;
  pthread_create(&t, NULL, UnlockOuter, NULL);
  pthread_join(t, NULL);
  pthread_mutex_lock(&inner);
  pthread_mutex_unlock(&inner);
  pthread_mutex_unlock(&middle);
  for (int i = 15; i-- > 0;) pthread_mutex_unlock(&tried[i]);
  for (int i = 64; i-- > 0;) pthread_mutex_unlock(&base[i]);
  pthread_mutex_destroy(&middle);
  pthread_create(&t, NULL, InnerThenOuter, NULL);
  pthread_join(t, NULL);
  return 0;
}
