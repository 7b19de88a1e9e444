/* misaligned_lock: two mutexes whose lock word is misaligned (one at offset 1 of a packed
 * struct, one split across two cache lines) and one that is aligned. Expected under the shim:
 * two misaligned_lock findings (the second one says "split across two cache lines"), none for
 * the aligned mutex; every lock and unlock works as without lockaudit. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The point of the test: a mutex where the compiler warns it should not be. */
#pragma GCC diagnostic ignored "-Waddress-of-packed-member"

struct __attribute__((packed)) Packed {
  char tag;
  pthread_mutex_t mu;
};

static struct Packed packed;
static _Alignas(64) unsigned char line_buffer[256];
static pthread_mutex_t aligned = PTHREAD_MUTEX_INITIALIZER;

int main(void) {
  const pthread_mutex_t init = PTHREAD_MUTEX_INITIALIZER;
  memcpy(&packed.mu, &init, sizeof init);
  pthread_mutex_t* split = (pthread_mutex_t*)(line_buffer + 62);
  memcpy(split, &init, sizeof init);
  long n = 0;
  for (int i = 0; i < 100; ++i) {
    pthread_mutex_lock(&packed.mu);
    pthread_mutex_lock(split);
    pthread_mutex_lock(&aligned);
    ++n;
    pthread_mutex_unlock(&aligned);
    pthread_mutex_unlock(split);
    pthread_mutex_unlock(&packed.mu);
  }
  printf("%ld\n", n);
  return n == 100 ? 0 : 1;
}
