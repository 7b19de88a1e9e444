// findings_one_path: one function inverts the order of two fresh heap mutexes, 2000 times (a
// pool that allocates its locks per request). 2000 potential deadlocks of one code path: the
// report must group them (a few written in full, the rest counted), so that its size and the
// engine's memory stay bounded (issue 19, defect 13).
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "itest.h"

static void InvertOnce(void) {
  pthread_mutex_t* a = malloc(sizeof *a);
  pthread_mutex_t* b = malloc(sizeof *b);
  if (a == NULL || b == NULL) exit(2);
  ITEST_OK(pthread_mutex_init(a, NULL));
  ITEST_OK(pthread_mutex_init(b, NULL));
  ITEST_OK(pthread_mutex_lock(a));
  ITEST_OK(pthread_mutex_lock(b));
  ITEST_OK(pthread_mutex_unlock(b));
  ITEST_OK(pthread_mutex_unlock(a));
  ITEST_OK(pthread_mutex_lock(b));
  ITEST_OK(pthread_mutex_lock(a));
  ITEST_OK(pthread_mutex_unlock(a));
  ITEST_OK(pthread_mutex_unlock(b));
  ITEST_OK(pthread_mutex_destroy(a));
  ITEST_OK(pthread_mutex_destroy(b));
  free(a);
  free(b);
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 2000;
  for (int i = 0; i < rounds; ++i) InvertOnce();
  return 0;
}
