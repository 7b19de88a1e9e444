// report_fd_reuse: the program closes every descriptor above 2 (as daemons do), opens a file of
// its own, which gets the number the report had, and then has a finding. lockaudit must write
// the finding to its report, never into the program's file (issue 19, defect 2). Exit status 0
// when the program's file holds exactly what the program wrote, 3 otherwise.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static pthread_mutex_t g_fd_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_fd_b = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  for (int fd = 3; fd < 1024; ++fd) close(fd);
  int own = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (own < 0) return 2;
  static const char kData[] = "PROGRAM DATA\n";
  if (write(own, kData, strlen(kData)) != (ssize_t)strlen(kData)) return 2;
  ITEST_OK(pthread_mutex_lock(&g_fd_a));  // an inversion: lockaudit writes a finding now
  ITEST_OK(pthread_mutex_lock(&g_fd_b));
  ITEST_OK(pthread_mutex_unlock(&g_fd_b));
  ITEST_OK(pthread_mutex_unlock(&g_fd_a));
  ITEST_OK(pthread_mutex_lock(&g_fd_b));
  ITEST_OK(pthread_mutex_lock(&g_fd_a));
  ITEST_OK(pthread_mutex_unlock(&g_fd_a));
  ITEST_OK(pthread_mutex_unlock(&g_fd_b));
  char buf[256] = {0};
  ssize_t n = pread(own, buf, sizeof buf - 1, 0);
  close(own);
  if (n != (ssize_t)strlen(kData) || memcmp(buf, kData, strlen(kData)) != 0) {
    fprintf(stderr, "report_fd_reuse: the program's file holds %zd bytes: '%s'\n", n, buf);
    return 3;
  }
  return 0;
}
