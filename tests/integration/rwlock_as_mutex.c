/* rwlock_as_mutex: four threads share two pthread rwlocks. `registry_lock` is taken for writing
 * 19 times in 20 (and contended): a mutex in disguise. `config_lock` is taken for reading 19
 * times in 20 (a real reader-writer use). `journal_lock` is only ever written, by one thread at
 * a time (never contended). Expected under the shim: one rwlock_as_mutex finding, for
 * registry_lock; none for the others. */
#include <pthread.h>
#include <stdio.h>

pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
pthread_rwlock_t config_lock = PTHREAD_RWLOCK_INITIALIZER;
pthread_rwlock_t journal_lock = PTHREAD_RWLOCK_INITIALIZER;
static volatile long registry_size, config_version, journal_lines;
static pthread_barrier_t start; /* the four workers start together: they overlap */

static void spin(int n) {
  for (volatile int i = 0; i < n; ++i) {
  }
}

static void* worker(void* arg) {
  (void)arg;
  pthread_barrier_wait(&start);
  for (int i = 0; i < 100000; ++i) {
    if (i % 20 == 0) {
      pthread_rwlock_rdlock(&registry_lock);
      spin(50);
      pthread_rwlock_unlock(&registry_lock);
    } else {
      pthread_rwlock_wrlock(&registry_lock);
      ++registry_size;
      spin(200);
      pthread_rwlock_unlock(&registry_lock);
    }
    if (i % 20 == 0) {
      pthread_rwlock_wrlock(&config_lock);
      ++config_version;
      pthread_rwlock_unlock(&config_lock);
    } else {
      pthread_rwlock_rdlock(&config_lock);
      spin(50);
      pthread_rwlock_unlock(&config_lock);
    }
  }
  return NULL;
}

int main(void) {
  pthread_t t[4];
  pthread_barrier_init(&start, NULL, 4);
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < 4; ++i) pthread_join(t[i], NULL);
  for (int i = 0; i < 1000; ++i) { /* one thread: never contended */
    pthread_rwlock_wrlock(&journal_lock);
    ++journal_lines;
    pthread_rwlock_unlock(&journal_lock);
  }
  printf("registry %ld, config %ld, journal %ld\n", registry_size, config_version, journal_lines);
  return 0;
}
