/* philosophers: five dining philosophers, each taking the left fork, then the right, 200 times,
 * with a short critical section (a few hundred nanoseconds of eating). Natively it usually
 * finishes; the cycle through all five forks is real, and `lockaudit confirm` makes it happen:
 * every philosopher pauses holding the left fork until all five do. */
#include <pthread.h>
#include <stdio.h>

enum { kPhilosophers = 5, kMeals = 200 };

static pthread_mutex_t forks[kPhilosophers];
static long eaten[kPhilosophers];

static void* Dine(void* arg) {
  const long me = (long)arg;
  pthread_mutex_t* left = &forks[me];
  pthread_mutex_t* right = &forks[(me + 1) % kPhilosophers];
  for (int meal = 0; meal < kMeals; ++meal) {
    pthread_mutex_lock(left);
    pthread_mutex_lock(right);
    for (volatile int chew = 0; chew < 100; ++chew) {
    }
    ++eaten[me];
    pthread_mutex_unlock(right);
    pthread_mutex_unlock(left);
  }
  return NULL;
}

int main(void) {
  pthread_t threads[kPhilosophers];
  for (int i = 0; i < kPhilosophers; ++i) pthread_mutex_init(&forks[i], NULL);
  for (long i = 0; i < kPhilosophers; ++i) pthread_create(&threads[i], NULL, Dine, (void*)i);
  for (int i = 0; i < kPhilosophers; ++i) pthread_join(threads[i], NULL);
  long total = 0;
  for (int i = 0; i < kPhilosophers; ++i) total += eaten[i];
  printf("%ld meals\n", total);
  return 0;
}
