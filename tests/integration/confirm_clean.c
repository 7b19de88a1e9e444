/* confirm_clean: threads that always take a before b (no cycle), print a result and exit 3: the
 * output and exit status must be the same natively, under lockaudit run --confirm, and with a
 * confirm plan for another program's cycle in effect. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t b = PTHREAD_MUTEX_INITIALIZER;
static long total;

static void* Work(void* arg) {
  for (int i = 0; i < 1000; ++i) {
    pthread_mutex_lock(&a);
    pthread_mutex_lock(&b);
    total += (long)arg;
    pthread_mutex_unlock(&b);
    pthread_mutex_unlock(&a);
  }
  return NULL;
}

int main(void) {
  pthread_t t[4];
  for (long i = 0; i < 4; ++i) pthread_create(&t[i], NULL, Work, (void*)(i + 1));
  for (int i = 0; i < 4; ++i) pthread_join(t[i], NULL);
  printf("total %ld\n", total);
  return 3;
}
