// main_pthread_exit: main() ends with pthread_exit() while a worker still runs; the process
// ends when the worker does (status 0), as POSIX says. The engine's own threads (its watchdog)
// must not keep the process alive (issue 19, defect 7). The worker nests two mutexes, so the
// engine has learned an edge and started its watchdog.
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "itest.h"

static pthread_mutex_t g_outer = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_inner = PTHREAD_MUTEX_INITIALIZER;

static void* Worker(void* arg) {
  (void)arg;
  for (int i = 0; i < 3; ++i) {
    ITEST_OK(pthread_mutex_lock(&g_outer));
    ITEST_OK(pthread_mutex_lock(&g_inner));
    itest_sleep_ms(100);
    ITEST_OK(pthread_mutex_unlock(&g_inner));
    ITEST_OK(pthread_mutex_unlock(&g_outer));
  }
  return NULL;
}

int main(void) {
  pthread_t t;
  ITEST_OK(pthread_mutex_lock(&g_outer));  // main too: its thread state exists
  ITEST_OK(pthread_mutex_unlock(&g_outer));
  ITEST_OK(pthread_create(&t, NULL, Worker, NULL));
  pthread_exit(NULL);
}
