/* exit_early: a lock-order inversion in one thread, then _exit(0) (as lbzip2 ends): no exit
 * handler runs, so the engine writes no summary line; `lockaudit run` must still report the
 * finding, and say why there is no summary without calling the exit abnormal. With the argument
 * "static" nothing is locked (the static build of this file, static_exit_early, is a statically
 * linked program the shim cannot attach to). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

pthread_mutex_t g_early_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_early_b = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "static") == 0) {
    puts("exit_early: static");
    return 0;
  }
  pthread_mutex_lock(&g_early_a);
  pthread_mutex_lock(&g_early_b);
  pthread_mutex_unlock(&g_early_b);
  pthread_mutex_unlock(&g_early_a);
  pthread_mutex_lock(&g_early_b);
  pthread_mutex_lock(&g_early_a);
  pthread_mutex_unlock(&g_early_a);
  pthread_mutex_unlock(&g_early_b);
  usleep(300 * 1000);  /* the symbolizer thread writes the finding meanwhile */
  fflush(stdout);
  _exit(0);
}
