/* blocking_under_lock: a thread that holds a mutex sleeps, reads a pipe, polls and waits for a
 * child; then the same calls in forms that cannot block (or without the lock). Expected under the
 * shim: four blocking_under_lock findings (usleep, read, poll, waitpid), each once although the
 * loop makes the calls three times, each with this file's line; with the argument "clean" only
 * the calls that cannot block under the lock run: no finding. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static void refresh_with_sleep(void) {
  pthread_mutex_lock(&cache_mu);
  usleep(2000); /* blocking_under_lock: usleep */
  pthread_mutex_unlock(&cache_mu);
}

static void read_reply(int fd) {
  char c;
  pthread_mutex_lock(&cache_mu);
  if (read(fd, &c, 1) != 1) perror("read"); /* blocking_under_lock: read (a blocking pipe) */
  pthread_mutex_unlock(&cache_mu);
}

static void wait_events(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  pthread_mutex_lock(&cache_mu);
  poll(&p, 1, 5); /* blocking_under_lock: poll */
  pthread_mutex_unlock(&cache_mu);
}

static void reap_child(void) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  pthread_mutex_lock(&cache_mu);
  waitpid(child, NULL, 0); /* blocking_under_lock: waitpid */
  pthread_mutex_unlock(&cache_mu);
}

/* Under the lock, nothing that can block: no finding from here. */
static void no_blocking(int nonblocking_fd, const char* file) {
  struct pollfd p = {.fd = nonblocking_fd, .events = POLLIN};
  struct timespec zero = {0, 0};
  char buf[16];
  pthread_mutex_lock(&cache_mu);
  if (read(nonblocking_fd, buf, sizeof buf) < 0) { /* O_NONBLOCK: EAGAIN */ }
  poll(&p, 1, 0);         /* a zero timeout */
  nanosleep(&zero, NULL); /* a zero sleep */
  usleep(0);
  waitpid(-1, NULL, WNOHANG);
  int fd = open(file, O_RDONLY); /* a regular file */
  if (fd >= 0) {
    if (read(fd, buf, sizeof buf) < 0) perror("read file");
    close(fd);
  }
  pthread_mutex_unlock(&cache_mu);
  usleep(1000); /* no lock held */
}

int main(int argc, char** argv) {
  const int clean = argc > 1 && strcmp(argv[1], "clean") == 0;
  int pipe_fd[2], quiet[2];
  if (pipe(pipe_fd) != 0 || pipe(quiet) != 0) return 1;
  fcntl(quiet[0], F_SETFL, O_NONBLOCK);
  for (int i = 0; i < 3; ++i) {
    if (!clean) {
      refresh_with_sleep();
      if (write(pipe_fd[1], "x", 1) != 1) return 1;
      read_reply(pipe_fd[0]);
      wait_events(quiet[0]);
      reap_child();
    }
    no_blocking(quiet[0], argv[0]);
  }
  puts("done");
  return 0;
}
