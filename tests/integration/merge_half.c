/* merge_half: takes two global locks in the order given by its argument ("ab" or "ba").
 * Neither run alone has a cycle; `lockaudit merge` of one run of each finds it. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

pthread_mutex_t g_merge_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_merge_b = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char** argv) {
  if (argc != 2 || (strcmp(argv[1], "ab") != 0 && strcmp(argv[1], "ba") != 0)) {
    fprintf(stderr, "usage: merge_half ab|ba\n");
    return 2;
  }
  pthread_mutex_t* first = argv[1][0] == 'a' ? &g_merge_a : &g_merge_b;
  pthread_mutex_t* second = argv[1][0] == 'a' ? &g_merge_b : &g_merge_a;
  pthread_mutex_lock(first);
  pthread_mutex_lock(second);
  pthread_mutex_unlock(second);
  pthread_mutex_unlock(first);
  return 0;
}
