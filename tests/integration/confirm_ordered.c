/* confirm_ordered: a lock-order cycle that cannot deadlock as observed. The first worker takes
 * a then b and is joined; only then is the second worker created, which takes b then a. The two
 * edges never run at the same time: the report marks the cycle "ordered", and lockaudit confirm
 * gives "not reproduced" at once. argv[1] == "main": the main thread takes a then b itself
 * before it creates the worker: not judged ordered (the engine could not see the main thread
 * take a then b again while the worker runs). argv[1] == "again": after the ordered cycle a third
 * thread takes a then b: the cycle is reported again, not ordered. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t b = PTHREAD_MUTEX_INITIALIZER;

static void Nested(pthread_mutex_t* first, pthread_mutex_t* second) {
  pthread_mutex_lock(first);
  pthread_mutex_lock(second);
  pthread_mutex_unlock(second);
  pthread_mutex_unlock(first);
}

static void* AThenB(void* arg) {
  (void)arg;
  Nested(&a, &b);
  return NULL;
}

static void* BThenA(void* arg) {
  (void)arg;
  Nested(&b, &a);
  return NULL;
}

int main(int argc, char** argv) {
  pthread_t t;
  if (argc > 1 && strcmp(argv[1], "main") == 0) {
    Nested(&a, &b);
  } else {
    pthread_create(&t, NULL, AThenB, NULL);
    pthread_join(t, NULL);
  }
  pthread_create(&t, NULL, BThenA, NULL);
  pthread_join(t, NULL);
  if (argc > 1 && strcmp(argv[1], "again") == 0) {
    pthread_create(&t, NULL, AThenB, NULL);
    pthread_join(t, NULL);
  }
  puts("done");
  return 0;
}
