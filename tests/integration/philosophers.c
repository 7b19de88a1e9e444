// Five philosophers, each takes its left fork then its right one, 1,000 rounds (issue 14). The
// order has a 5-lock cycle, which lockaudit must report; and it must not line the threads up
// into the deadlock with a pause of its own (a slow first lock or first new edge, paid while a
// fork is held): natively the program finishes nearly every time, so must it under the shim.
#include <pthread.h>
#include <stdio.h>
#define N 5
static pthread_mutex_t fork_[N];
static long meals[N];
static void* phil(void* arg) {
  long i = (long)arg;
  for (int r = 0; r < 1000; ++r) {
    pthread_mutex_lock(&fork_[i]);
    pthread_mutex_lock(&fork_[(i + 1) % N]);
    ++meals[i];
    pthread_mutex_unlock(&fork_[(i + 1) % N]);
    pthread_mutex_unlock(&fork_[i]);
  }
  return 0;
}
int main(void) {
  pthread_t t[N];
  for (int i = 0; i < N; ++i) pthread_mutex_init(&fork_[i], 0);
  for (long i = 0; i < N; ++i) pthread_create(&t[i], 0, phil, (void*)i);
  for (int i = 0; i < N; ++i) pthread_join(t[i], 0);
  printf("done\n");
  return 0;
}
