// A per-request object's lock taken between two global ones, then destroyed (issue 14): the
// engine learns only direct edges (g_outer -> request, request -> g_inner), so destroying the
// request's lock must keep the order g_outer -> g_inner it implied. Another thread later takes
// g_inner then g_outer: exactly one lock_order_cycle, of those two locks, whose g_outer ->
// g_inner edge is marked implied.
#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t g_outer = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_inner = PTHREAD_MUTEX_INITIALIZER;

struct request {
  pthread_mutex_t mu;
  int state;
};

static void handle(struct request* r) {
  pthread_mutex_lock(&r->mu);
  pthread_mutex_lock(&g_inner);
  ++r->state;
  pthread_mutex_unlock(&g_inner);
  pthread_mutex_unlock(&r->mu);
}

static void* serve(void* arg) {
  for (int i = 0; i < 4; ++i) {
    struct request* r = malloc(sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->state = 0;
    pthread_mutex_lock(&g_outer);
    handle(r);
    pthread_mutex_unlock(&g_outer);
    pthread_mutex_destroy(&r->mu);
    free(r);
  }
  return arg;
}

static void* inner_then_outer(void* arg) {
  pthread_mutex_lock(&g_inner);
  pthread_mutex_lock(&g_outer);
  pthread_mutex_unlock(&g_outer);
  pthread_mutex_unlock(&g_inner);
  return arg;
}

int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, serve, NULL);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, inner_then_outer, NULL);
  pthread_join(t, NULL);
  return 0;
}
