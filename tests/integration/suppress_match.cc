// suppress_match: two destroy_held findings from two functions of the program, for
// suppressions.sh. suppress_this(pthread_mutex_t*) and keep_this(pthread_mutex_t*) each destroy
// a mutex they hold (a C++ function, so its frame's name carries the parameter list); then a
// two-lock inversion in one thread (a lock_order_cycle) from invert_here().
// Exit status 0.
#include <pthread.h>

#include <cstdio>

__attribute__((noinline)) void suppress_this(pthread_mutex_t* m) {
  pthread_mutex_lock(m);
  pthread_mutex_destroy(m);  // destroyed while held: destroy_held (EBUSY, nothing destroyed)
  pthread_mutex_unlock(m);
}

__attribute__((noinline)) void keep_this(pthread_mutex_t* m) {
  pthread_mutex_lock(m);
  pthread_mutex_destroy(m);
  pthread_mutex_unlock(m);
}

pthread_mutex_t g_first = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_second = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void invert_here() {
  pthread_mutex_lock(&g_first);
  pthread_mutex_lock(&g_second);
  pthread_mutex_unlock(&g_second);
  pthread_mutex_unlock(&g_first);
  pthread_mutex_lock(&g_second);
  pthread_mutex_lock(&g_first);
  pthread_mutex_unlock(&g_first);
  pthread_mutex_unlock(&g_second);
}

int main() {
  pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
  suppress_this(&a);
  keep_this(&b);
  invert_here();
  pthread_mutex_destroy(&a);
  pthread_mutex_destroy(&b);
  puts("suppress_match: done");
  return 0;
}
