/* robust_owner_dead: a robust mutex whose owner thread exits while holding it. The next
 * pthread_mutex_lock must return EOWNERDEAD under the shim exactly as without it (and the lock is
 * then held: pthread_mutex_consistent + unlock must succeed). Exits 0 only if every return code
 * is the real one. The exit while holding is a thread_exit_holding finding. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

pthread_mutex_t g_robust_mu;

static void* Owner(void* arg) {
  (void)arg;
  if (pthread_mutex_lock(&g_robust_mu) != 0) return (void*)1;
  return NULL; /* exits holding it */
}

int main(void) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (pthread_mutex_init(&g_robust_mu, &attr) != 0) return 2;
  pthread_t t;
  void* res = NULL;
  if (pthread_create(&t, NULL, Owner, NULL) != 0 || pthread_join(t, &res) != 0 || res != NULL) return 2;
  int rc = pthread_mutex_lock(&g_robust_mu);
  if (rc != EOWNERDEAD) {
    fprintf(stderr, "robust_owner_dead: lock returned %d, want EOWNERDEAD\n", rc);
    return 1;
  }
  if (pthread_mutex_consistent(&g_robust_mu) != 0) return 1;
  if (pthread_mutex_unlock(&g_robust_mu) != 0) return 1;
  if (pthread_mutex_lock(&g_robust_mu) != 0 || pthread_mutex_unlock(&g_robust_mu) != 0) return 1;
  if (pthread_mutex_destroy(&g_robust_mu) != 0) return 1;
  puts("robust_owner_dead: EOWNERDEAD kept");
  return 0;
}
