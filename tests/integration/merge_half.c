/* merge_half: takes two global locks in the order given by its argument ("ab" or "ba").
 * Neither run alone has a cycle; `lockaudit merge` of one run of each finds it.
 *   ab, ba              g_merge_a/g_merge_b (mutexes): a real cross-run cycle;
 *   gated-ab, gated-ba  the same, always while holding g_merge_gate: no deadlock possible;
 *   read-ab, read-ba    g_merge_rw_a/g_merge_rw_b (rwlocks), both read-locked: two readers do not
 *                       block each other, no deadlock either. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

pthread_mutex_t g_merge_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_merge_b = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_merge_gate = PTHREAD_MUTEX_INITIALIZER;
pthread_rwlock_t g_merge_rw_a = PTHREAD_RWLOCK_INITIALIZER;
pthread_rwlock_t g_merge_rw_b = PTHREAD_RWLOCK_INITIALIZER;

int main(int argc, char** argv) {
  const char* order = argc == 2 ? argv[1] : "";
  const int gated = strncmp(order, "gated-", 6) == 0, read = strncmp(order, "read-", 5) == 0;
  if (gated) order += 6;
  if (read) order += 5;
  if (strcmp(order, "ab") != 0 && strcmp(order, "ba") != 0) {
    fprintf(stderr, "usage: merge_half [gated-|read-]ab|ba\n");
    return 2;
  }
  const int a_first = order[0] == 'a';
  if (read) {
    pthread_rwlock_rdlock(a_first ? &g_merge_rw_a : &g_merge_rw_b);
    pthread_rwlock_rdlock(a_first ? &g_merge_rw_b : &g_merge_rw_a);
    pthread_rwlock_unlock(a_first ? &g_merge_rw_b : &g_merge_rw_a);
    pthread_rwlock_unlock(a_first ? &g_merge_rw_a : &g_merge_rw_b);
    return 0;
  }
  pthread_mutex_t* first = a_first ? &g_merge_a : &g_merge_b;
  pthread_mutex_t* second = a_first ? &g_merge_b : &g_merge_a;
  if (gated) pthread_mutex_lock(&g_merge_gate);
  pthread_mutex_lock(first);
  pthread_mutex_lock(second);
  pthread_mutex_unlock(second);
  pthread_mutex_unlock(first);
  if (gated) pthread_mutex_unlock(&g_merge_gate);
  return 0;
}
