// The helper pattern (issue 14): each lock is taken by a helper that returns before the next
// is taken, in both orders. The held lock's stack must be one that happened: when the helper
// that took it has returned, only its acquisition site (marked partial), never the other
// helper's frames under it.
#include <pthread.h>

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void take_a(void) { pthread_mutex_lock(&a); __asm__ volatile(""); }
__attribute__((noinline)) void take_b(void) { pthread_mutex_lock(&b); __asm__ volatile(""); }

__attribute__((noinline)) void a_then_b(void) {
  take_a();
  take_b();
  pthread_mutex_unlock(&b);
  pthread_mutex_unlock(&a);
}

__attribute__((noinline)) void b_then_a(void) {
  take_b();
  take_a();
  pthread_mutex_unlock(&a);
  pthread_mutex_unlock(&b);
}

int main(void) {
  a_then_b();
  b_then_a();
  return 0;
}
