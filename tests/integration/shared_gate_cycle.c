/* shared_gate_cycle: both threads hold G only for reading around an A/B inversion. Two readers
 * do not exclude each other, so G is no gate: this is a real ABBA deadlock and must be reported. */
#include <pthread.h>

pthread_rwlock_t g_shared_gate = PTHREAD_RWLOCK_INITIALIZER;
pthread_mutex_t g_sg_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_sg_b = PTHREAD_MUTEX_INITIALIZER;

static void* Forward(void* arg) {
  (void)arg;
  pthread_rwlock_rdlock(&g_shared_gate);
  pthread_mutex_lock(&g_sg_a);
  pthread_mutex_lock(&g_sg_b);
  pthread_mutex_unlock(&g_sg_b);
  pthread_mutex_unlock(&g_sg_a);
  pthread_rwlock_unlock(&g_shared_gate);
  return NULL;
}

static void* Backward(void* arg) {
  (void)arg;
  pthread_rwlock_rdlock(&g_shared_gate);
  pthread_mutex_lock(&g_sg_b);
  pthread_mutex_lock(&g_sg_a);
  pthread_mutex_unlock(&g_sg_a);
  pthread_mutex_unlock(&g_sg_b);
  pthread_rwlock_unlock(&g_shared_gate);
  return NULL;
}

int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, Forward, NULL);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, Backward, NULL);
  pthread_join(t, NULL);
  return 0;
}
