/* rwlock_as_mutex: pthread rwlocks used three ways. `registry_lock` is taken for writing 19
 * times in 20 by four workers, and two threads then contend for it on purpose (a handshake: one
 * holds it for writing until the other is about to ask for it), so it is contended however the
 * machine schedules: a mutex in disguise. `config_lock` is taken for reading 19 times in 20 (a
 * real reader-writer use). `journal_lock` is only ever written, by one thread (never
 * contended). Expected under the shim: one rwlock_as_mutex finding, for registry_lock; none for
 * the others. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
pthread_rwlock_t config_lock = PTHREAD_RWLOCK_INITIALIZER;
pthread_rwlock_t journal_lock = PTHREAD_RWLOCK_INITIALIZER;
static volatile long registry_size, config_version, journal_lines;

enum { kWorkerRounds = 2000, kHandshakes = 300 };
static atomic_int held_round, asking_round, done_round;

static void spin(int n) {
  for (volatile int i = 0; i < n; ++i) {
  }
}

static void* worker(void* arg) {
  (void)arg;
  for (int i = 0; i < kWorkerRounds; ++i) {
    if (i % 20 == 0) {
      pthread_rwlock_rdlock(&registry_lock);
      spin(50);
      pthread_rwlock_unlock(&registry_lock);
    } else {
      pthread_rwlock_wrlock(&registry_lock);
      ++registry_size;
      spin(50);
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

/* The holder: takes registry_lock for writing, says so, and keeps it until the asker is about
 * to request it (then a little longer): the asker's request finds it taken. */
static void* holder(void* arg) {
  (void)arg;
  for (int r = 1; r <= kHandshakes; ++r) {
    while (atomic_load(&done_round) != r - 1) sched_yield();  /* the asker has had its turn */
    pthread_rwlock_wrlock(&registry_lock);
    atomic_store(&held_round, r);
    while (atomic_load(&asking_round) != r) sched_yield();
    spin(20000);
    ++registry_size;
    pthread_rwlock_unlock(&registry_lock);
  }
  return NULL;
}

static void* asker(void* arg) {
  (void)arg;
  for (int r = 1; r <= kHandshakes; ++r) {
    while (atomic_load(&held_round) != r) sched_yield();
    atomic_store(&asking_round, r);
    pthread_rwlock_wrlock(&registry_lock);
    ++registry_size;
    pthread_rwlock_unlock(&registry_lock);
    atomic_store(&done_round, r);
  }
  return NULL;
}

int main(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < 4; ++i) pthread_join(t[i], NULL);
  pthread_create(&t[0], NULL, holder, NULL);
  pthread_create(&t[1], NULL, asker, NULL);
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  for (int i = 0; i < 1000; ++i) { /* one thread: never contended */
    pthread_rwlock_wrlock(&journal_lock);
    ++journal_lines;
    pthread_rwlock_unlock(&journal_lock);
  }
  printf("registry %ld, config %ld, journal %ld\n", registry_size, config_version, journal_lines);
  return 0;
}
