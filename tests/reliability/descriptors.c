/* descriptors: the shim never writes into the program's file descriptors.
 *
 * Like a daemon, the program first closes every descriptor above 2 (close_range(3, ~0U, 0), or
 * close() of 3..1023 where close_range is missing), which closes the shim's report file too.
 * Then it opens a file of its own (mkstemp in /tmp: it gets the lowest free number, likely the
 * one the report had), and makes the shim find things while that file is open: an ABBA
 * inversion on two global mutexes (g_desc_a/g_desc_b, two threads one after the other, so no
 * real deadlock), then its own write, then a second inversion (g_desc_c/g_desc_d). It closes the
 * file, reads it back and prints its exact content, which must be only "PROGRAM DATA\n"; a shim
 * still writing findings to its old descriptor number would have written into this file.
 * Printed too: whether fds 0, 1 and 2 are open (the count of open descriptors may legitimately
 * differ under the shim, so it is not printed). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rtest.h"

pthread_mutex_t g_desc_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_desc_b = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_desc_c = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_desc_d = PTHREAD_MUTEX_INITIALIZER;

struct pair {
  pthread_mutex_t* first;
  pthread_mutex_t* second;
};

static void* lock_pair(void* arg) {
  struct pair* p = arg;
  pthread_mutex_lock(p->first);
  pthread_mutex_lock(p->second);
  pthread_mutex_unlock(p->second);
  pthread_mutex_unlock(p->first);
  return NULL;
}

/* first -> second on one thread, then second -> first on another: a potential deadlock. */
static void inversion(pthread_mutex_t* first, pthread_mutex_t* second) {
  struct pair ab = {first, second}, ba = {second, first};
  rtest_in_thread(lock_pair, &ab);
  rtest_in_thread(lock_pair, &ba);
}

static void print_std_fds(const char* when) {
  printf("%s: fd 0 %s, fd 1 %s, fd 2 %s\n", when, fcntl(0, F_GETFD) >= 0 ? "open" : "closed",
         fcntl(1, F_GETFD) >= 0 ? "open" : "closed", fcntl(2, F_GETFD) >= 0 ? "open" : "closed");
}

static int close_above_2(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  if (close_range(3, ~0U, 0) == 0) return 0;
  if (errno != ENOSYS) return errno;
#endif
  for (int fd = 3; fd < 1024; fd++) close(fd);
  return 0;
}

int main(void) {
  rtest_line_buffered();
  print_std_fds("start");
  printf("close descriptors above 2 -> %d\n", close_above_2());
  print_std_fds("after closing");

  char path[] = "/tmp/lockaudit_descriptors_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("mkstemp");
    return 3;
  }
  inversion(&g_desc_a, &g_desc_b); /* a finding while the file is open */
  static const char kData[] = "PROGRAM DATA\n";
  ssize_t n = write(fd, kData, sizeof kData - 1);
  printf("write -> %s\n", n == (ssize_t)(sizeof kData - 1) ? "all bytes" : "short or failed");
  inversion(&g_desc_c, &g_desc_d); /* another, after the program's own write */
  printf("close -> %d\n", close(fd));

  char buf[4096];
  fd = open(path, O_RDONLY);
  if (fd < 0) {
    perror("open");
    return 3;
  }
  ssize_t got = read(fd, buf, sizeof buf - 1);
  close(fd);
  unlink(path);
  if (got < 0) {
    perror("read");
    return 3;
  }
  buf[got] = '\0';
  printf("file content: %zd bytes, %s\n", got,
         got == (ssize_t)(sizeof kData - 1) && memcmp(buf, kData, (size_t)got) == 0
             ? "exactly the program's line"
             : "NOT the program's line");
  /* The content itself, with its line breaks escaped, so a difference shows what was written. */
  printf("file content: \"");
  for (ssize_t i = 0; i < got && i < 400; i++) {
    if (buf[i] == '\n') {
      printf("\\n");
    } else if (buf[i] >= 32 && buf[i] < 127) {
      putchar(buf[i]);
    } else {
      printf("\\x%02x", (unsigned char)buf[i]);
    }
  }
  printf("%s\"\n", got > 400 ? "..." : "");
  print_std_fds("end");
  return 0;
}
