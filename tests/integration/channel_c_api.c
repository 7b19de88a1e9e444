// channel_c_api: a bounded queue of the program's own (pthread mutex and condition variables)
// annotated with lockaudit's C channel API, as a C user would. Run under the shim.
//
//   clean     2 producers x 5000 items to 2 consumers through a queue of 8, closed and drained.
//             No finding.
//   closed    a send after close: lockaudit_channel_send_begin returns -1 with errno EPIPE and the
//             queue refuses the item. One send_on_closed.
//   leak      the queue destroyed with 2 items in it. One channel_leak.
//   deadlock  the producer holds `g_state_mu` and waits on the full queue; the consumer waits for
//             `g_state_mu`. One deadlock (LOCKAUDIT_ON_DEADLOCK=abort ends it).
// Exit status 0 when the program's own checks pass.
#define _GNU_SOURCE
#include <errno.h>
#include <lockaudit/lockaudit.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "itest.h"

enum { kCap = 8 };
struct queue {
  pthread_mutex_t mu;
  pthread_cond_t not_full, not_empty;
  int items[kCap];
  int head, count, closed;
  lockaudit_channel* audit;
};

static void queue_init(struct queue* q, const char* name) {
  memset(q, 0, sizeof *q);
  ITEST_OK(pthread_mutex_init(&q->mu, NULL));
  ITEST_OK(pthread_cond_init(&q->not_full, NULL));
  ITEST_OK(pthread_cond_init(&q->not_empty, NULL));
  q->audit = lockaudit_channel_create(name, kCap);
}

// 0 sent, -1 closed.
static int queue_send(struct queue* q, int v) {
  if (lockaudit_channel_send_begin(q->audit, 0) != 0) {
    if (errno != EPIPE) exit(2);
    return -1;
  }
  ITEST_OK(pthread_mutex_lock(&q->mu));
  while (q->count == kCap && !q->closed) ITEST_OK(pthread_cond_wait(&q->not_full, &q->mu));
  int rc = -1;
  if (!q->closed) {
    q->items[(q->head + q->count) % kCap] = v;
    ++q->count;
    rc = 0;
    ITEST_OK(pthread_cond_signal(&q->not_empty));
  }
  ITEST_OK(pthread_mutex_unlock(&q->mu));
  lockaudit_channel_send_end(q->audit, rc == 0);
  return rc;
}

// 1 received into *v, 0 closed and empty.
static int queue_recv(struct queue* q, int* v) {
  lockaudit_channel_recv_begin(q->audit, 0);
  ITEST_OK(pthread_mutex_lock(&q->mu));
  while (q->count == 0 && !q->closed) ITEST_OK(pthread_cond_wait(&q->not_empty, &q->mu));
  int got = 0;
  if (q->count > 0) {
    *v = q->items[q->head];
    q->head = (q->head + 1) % kCap;
    --q->count;
    got = 1;
    ITEST_OK(pthread_cond_signal(&q->not_full));
  }
  ITEST_OK(pthread_mutex_unlock(&q->mu));
  lockaudit_channel_recv_end(q->audit, got);
  return got;
}

static void queue_close(struct queue* q) {
  ITEST_OK(pthread_mutex_lock(&q->mu));
  q->closed = 1;
  ITEST_OK(pthread_cond_broadcast(&q->not_full));
  ITEST_OK(pthread_cond_broadcast(&q->not_empty));
  ITEST_OK(pthread_mutex_unlock(&q->mu));
  lockaudit_channel_close(q->audit);
}

static void queue_destroy(struct queue* q) {
  lockaudit_channel_destroy(q->audit);
  ITEST_OK(pthread_cond_destroy(&q->not_full));
  ITEST_OK(pthread_cond_destroy(&q->not_empty));
  ITEST_OK(pthread_mutex_destroy(&q->mu));
}

static struct queue g_q;
static pthread_mutex_t g_state_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_received[2];

static void* Producer(void* arg) {
  (void)arg;
  for (int i = 0; i < 5000; ++i) {
    if (queue_send(&g_q, i) != 0) exit(2);
  }
  return NULL;
}

static void* Consumer(void* arg) {
  long* n = arg;
  int v;
  while (queue_recv(&g_q, &v)) ++*n;
  return NULL;
}

static void* DeadlockConsumer(void* arg) {
  (void)arg;
  int v;
  lockaudit_channel_recv_begin(g_q.audit, LOCKAUDIT_CHANNEL_TRY);  // the queue's receiver
  lockaudit_channel_recv_end(g_q.audit, 0);
  itest_sleep_ms(100);
  for (;;) {
    ITEST_OK(pthread_mutex_lock(&g_state_mu));  // waits: the producer holds it
    int got = queue_recv(&g_q, &v);
    ITEST_OK(pthread_mutex_unlock(&g_state_mu));
    if (!got) break;
  }
  return NULL;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  queue_init(&g_q, "requests");
  if (strcmp(mode, "clean") == 0) {
    pthread_t p[2], c[2];
    for (int i = 0; i < 2; ++i) ITEST_OK(pthread_create(&c[i], NULL, Consumer, &g_received[i]));
    for (int i = 0; i < 2; ++i) ITEST_OK(pthread_create(&p[i], NULL, Producer, NULL));
    for (int i = 0; i < 2; ++i) ITEST_OK(pthread_join(p[i], NULL));
    queue_close(&g_q);
    for (int i = 0; i < 2; ++i) ITEST_OK(pthread_join(c[i], NULL));
    queue_destroy(&g_q);
    return g_received[0] + g_received[1] == 10000 ? 0 : 1;
  }
  if (strcmp(mode, "closed") == 0) {
    if (queue_send(&g_q, 1) != 0) return 1;
    queue_close(&g_q);
    if (queue_send(&g_q, 2) != -1) return 1;  // refused
    int v = 0, n = 0;
    while (queue_recv(&g_q, &v)) ++n;
    queue_destroy(&g_q);
    return n == 1 ? 0 : 1;
  }
  if (strcmp(mode, "leak") == 0) {
    if (queue_send(&g_q, 1) != 0 || queue_send(&g_q, 2) != 0) return 1;
    queue_destroy(&g_q);  // 2 items never received
    return 0;
  }
  if (strcmp(mode, "deadlock") == 0) {
    pthread_t c;
    ITEST_OK(pthread_create(&c, NULL, DeadlockConsumer, NULL));
    itest_sleep_ms(50);
    ITEST_OK(pthread_mutex_lock(&g_state_mu));
    for (int i = 0; i <= kCap; ++i) queue_send(&g_q, i);  // the last one waits forever
    ITEST_OK(pthread_mutex_unlock(&g_state_mu));
    ITEST_OK(pthread_join(c, NULL));
    return 1;
  }
  fprintf(stderr, "usage: channel_c_api clean|closed|leak|deadlock\n");
  return 2;
}
