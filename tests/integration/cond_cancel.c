/* cond_cancel: a producer/consumer on a pthread condition variable, plus a thread cancelled while
 * it waits in pthread_cond_wait; its C cleanup handler (pthread_cleanup_push) unlocks the mutex
 * that the cancelled wait re-acquired. Nothing is wrong here: no finding, and the mutex is free
 * afterwards. Exits 1 if the mutex is still locked or items were lost. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
pthread_mutex_t g_q_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_q_cv = PTHREAD_COND_INITIALIZER;
int items = 0, done = 0;
static void unlock_cleanup(void* m) { pthread_mutex_unlock((pthread_mutex_t*)m); }
static void* consumer(void* arg) {
  (void)arg;
  volatile long got = 0; /* survives the cleanup's longjmp */
  pthread_mutex_lock(&g_q_mu);
  pthread_cleanup_push(unlock_cleanup, &g_q_mu);
  for (;;) {
    while (items == 0 && !done) pthread_cond_wait(&g_q_cv, &g_q_mu);
    if (items == 0 && done) break;
    items--; got++;
  }
  pthread_cleanup_pop(1);
  return (void*)got;
}
static void* waiter(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_q_mu);
  pthread_cleanup_push(unlock_cleanup, &g_q_mu);
  for (;;) pthread_cond_wait(&g_q_cv, &g_q_mu);  /* cancelled here */
  pthread_cleanup_pop(1);
  return NULL;
}
int main(void) {
  pthread_t c, w; void* got;
  pthread_create(&c, NULL, consumer, NULL);
  pthread_create(&w, NULL, waiter, NULL);
  for (int i = 0; i < 100000; i++) { pthread_mutex_lock(&g_q_mu); items++; pthread_cond_signal(&g_q_cv); pthread_mutex_unlock(&g_q_mu); }
  usleep(20000);
  pthread_cancel(w); pthread_join(w, NULL);
  pthread_mutex_lock(&g_q_mu); done = 1; pthread_cond_broadcast(&g_q_cv); pthread_mutex_unlock(&g_q_mu);
  pthread_join(c, &got);
  printf("consumed %ld, mutex free after cancel: %s\n", (long)got, pthread_mutex_trylock(&g_q_mu) == 0 ? "yes" : "NO");
  return got == (void*)100000L ? 0 : 1;
}
