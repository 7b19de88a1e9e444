/* syscall_loop: a syscall-heavy loop that holds no lock, for bench/blocking_overhead.sh: each
 * iteration reads 64 bytes of /dev/zero, polls a pipe with a zero timeout and reads the empty
 * O_NONBLOCK pipe (EAGAIN): three calls the shim interposes for blocking_under_lock, none of
 * which blocks. With "direct", the same calls go to glibc's __read and __poll, the same code
 * under names the shim does not interpose: the baseline that differs only by the interposers.
 * No lockaudit header, nothing of lockaudit linked.
 * Usage: syscall_loop THREADS ITERATIONS [direct]; prints ns_per_iteration= (wall time /
 * iterations of one thread). */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long iterations;
static int direct;

/* glibc's own names of read and poll (exported, GLIBC_2.2.5), which no interposer covers. */
// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
extern ssize_t __read(int fd, void* buf, size_t n);
// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
extern int __poll(struct pollfd* fds, nfds_t n, int timeout);

static void* loop(void* arg) {
  (void)arg;
  int zero = open("/dev/zero", O_RDONLY);
  int p[2];
  if (zero < 0 || pipe(p) != 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
    perror("setup");
    exit(1);
  }
  char buf[64];
  struct pollfd pfd = {.fd = p[0], .events = POLLIN};
  long sink = 0;
  if (direct) {
    for (long i = 0; i < iterations; ++i) {
      sink += __read(zero, buf, sizeof buf);
      sink += __poll(&pfd, 1, 0);
      sink += __read(p[0], buf, sizeof buf);
    }
  } else {
    for (long i = 0; i < iterations; ++i) {
      sink += read(zero, buf, sizeof buf);
      sink += poll(&pfd, 1, 0);
      sink += read(p[0], buf, sizeof buf);
    }
  }
  close(zero), close(p[0]), close(p[1]);
  return (void*)sink;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "direct") != 0)) {
    fprintf(stderr, "usage: syscall_loop THREADS ITERATIONS [direct]\n");
    return 2;
  }
  const int threads = atoi(argv[1]);
  iterations = atol(argv[2]);
  direct = argc == 4;
  if (threads < 1 || threads > 64 || iterations < 1) {
    fprintf(stderr, "syscall_loop: THREADS 1..64, ITERATIONS >= 1\n");
    return 2;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pthread_t t[64];
  if (threads == 1) {
    loop(NULL);
  } else {
    for (int i = 0; i < threads; ++i) pthread_create(&t[i], NULL, loop, NULL);
    for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  const double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ns_per_iteration=%.1f\n", ns / iterations);
  return 0;
}
