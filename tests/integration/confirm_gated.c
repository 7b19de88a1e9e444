/* confirm_gated: two threads run at the same time, one taking a then b, the other b then a, 300
 * times each, but always inside the gate lock: only one of them is ever between its two locks,
 * so the inverted order cannot deadlock. lockaudit reports no cycle (the gate is common to both
 * edges); a cycle forced from the two edge lines is not reproduced by lockaudit confirm. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_mu_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_mu_b = PTHREAD_MUTEX_INITIALIZER;
static long rounds;

static void Gated(pthread_mutex_t* first, pthread_mutex_t* second) {
  pthread_mutex_lock(&gate);
  pthread_mutex_lock(first);
  pthread_mutex_lock(second);
  ++rounds;
  pthread_mutex_unlock(second);
  pthread_mutex_unlock(first);
  pthread_mutex_unlock(&gate);
}

static void* Forward(void* arg) {
  (void)arg;
  for (int i = 0; i < 300; ++i) Gated(&g_mu_a, &g_mu_b);
  return NULL;
}

static void* Backward(void* arg) {
  (void)arg;
  for (int i = 0; i < 300; ++i) Gated(&g_mu_b, &g_mu_a);
  return NULL;
}

int main(void) {
  pthread_t t1, t2;
  pthread_create(&t1, NULL, Forward, NULL);
  pthread_create(&t2, NULL, Backward, NULL);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  printf("%ld rounds\n", rounds);
  return 0;
}
