// A lock-order inversion between two locks with 20 others held between them (issue 14): an
// acquisition learns one edge, from the nearest held lock, and the edge A -> B (A held 21 deep)
// is implied by the chain of edges between the held locks. The inversion must still be
// reported: exactly one lock_order_cycle.
#include <pthread.h>

enum { kBetween = 20 };
static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t between[kBetween];

static void* a_then_b(void* arg) {
  pthread_mutex_lock(&a);
  for (int i = 0; i < kBetween; ++i) pthread_mutex_lock(&between[i]);
  pthread_mutex_lock(&b);
  pthread_mutex_unlock(&b);
  for (int i = kBetween; i-- > 0;) pthread_mutex_unlock(&between[i]);
  pthread_mutex_unlock(&a);
  return arg;
}

static void* b_then_a(void* arg) {
  pthread_mutex_lock(&b);
  pthread_mutex_lock(&a);
  pthread_mutex_unlock(&a);
  pthread_mutex_unlock(&b);
  return arg;
}

int main(void) {
  for (int i = 0; i < kBetween; ++i) pthread_mutex_init(&between[i], NULL);
  pthread_t t;
  pthread_create(&t, NULL, a_then_b, NULL);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, b_then_a, NULL);
  pthread_join(t, NULL);
  return 0;
}
