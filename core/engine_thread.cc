#include "engine_thread.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cerrno>
#include <cstring>

namespace lockaudit::core {
namespace {

constexpr int kMaxEngineTasks = 256;
std::atomic<int> g_engine_tasks[kMaxEngineTasks];
std::atomic<int> g_engine_task_count{0};

bool IsEngineTask(int tid) {
  const int n = g_engine_task_count.load(std::memory_order_acquire);
  for (int i = 0; i < n && i < kMaxEngineTasks; ++i) {
    if (g_engine_tasks[i].load(std::memory_order_relaxed) == tid) return true;
  }
  return false;
}

// The state letter of /proc/self/task/<tid>/stat ('R', 'S', 'Z', ...), or 0 when the task is
// gone. Raw open/read into a stack buffer: no stdio, no heap.
char TaskState(int tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* paren = strrchr(buf, ')');  // the command name may contain anything but ')' last
  if (paren == nullptr || paren[1] != ' ') return 0;
  return paren[2];
}

bool Ended(char state) { return state == 0 || state == 'Z' || state == 'X' || state == 'x'; }

}  // namespace

void BlockAsyncSignals(sigset_t* old) noexcept {
  sigset_t all;
  sigfillset(&all);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&all, s);
  pthread_sigmask(SIG_BLOCK, &all, old);
}

void RestoreSignals(const sigset_t* old) noexcept { pthread_sigmask(SIG_SETMASK, old, nullptr); }

int CreateWithSignalsBlocked(int (*create)(pthread_t*, const pthread_attr_t*, void* (*)(void*),
                                           void*),
                             pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                             void* arg) noexcept {
  sigset_t old;
  BlockAsyncSignals(&old);
  const int rc = create(thread, attr, fn, arg);
  RestoreSignals(&old);
  return rc;
}

void RegisterEngineTask() noexcept {
  const int tid = static_cast<int>(syscall(SYS_gettid));
  if (IsEngineTask(tid)) return;
  // Reuse the slot of a task that has ended (tids are reused), else append.
  const int n = g_engine_task_count.load(std::memory_order_acquire);
  for (int i = 0; i < n && i < kMaxEngineTasks; ++i) {
    int old = g_engine_tasks[i].load(std::memory_order_relaxed);
    if (old != 0 && Ended(TaskState(old)) &&
        g_engine_tasks[i].compare_exchange_strong(old, tid)) {
      return;
    }
  }
  const int slot = g_engine_task_count.load(std::memory_order_relaxed);
  if (slot >= kMaxEngineTasks) return;  // not tracked: the process is only kept alive longer
  g_engine_tasks[slot].store(tid, std::memory_order_relaxed);
  g_engine_task_count.fetch_add(1, std::memory_order_release);
}

bool OnlyEngineThreadsLeft() noexcept {
  const int pid = static_cast<int>(getpid());
  if (!Ended(TaskState(pid))) return false;  // main is running: the common, cheap answer
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool only_engine = true;
  alignas(8) char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      const int tid = atoi(d->d_name);
      if (tid == pid || IsEngineTask(tid)) continue;
      if (!Ended(TaskState(tid))) {
        only_engine = false;
        break;
      }
    }
    if (!only_engine) break;
  }
  close(fd);
  return only_engine;
}

void ForgetEngineTasksAfterFork() noexcept {
  for (auto& t : g_engine_tasks) t.store(0, std::memory_order_relaxed);
  g_engine_task_count.store(0, std::memory_order_relaxed);
}

}  // namespace lockaudit::core

namespace lockaudit::core {
namespace {
__thread uintptr_t t_stack_lo __attribute__((tls_model("initial-exec"))) = 0;
__thread uintptr_t t_stack_hi __attribute__((tls_model("initial-exec"))) = 0;
__thread bool t_stack_tried __attribute__((tls_model("initial-exec"))) = false;

uintptr_t ParseHex(const char*& p) {
  uintptr_t v = 0;
  for (;; ++p) {
    char c = *p;
    if (c >= '0' && c <= '9') v = v * 16 + static_cast<uintptr_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + static_cast<uintptr_t>(c - 'a' + 10);
    else return v;
  }
}

// The mapping of /proc/self/maps that contains `addr`, read in pieces into a stack buffer.
bool MappingOf(uintptr_t addr, uintptr_t* lo, uintptr_t* hi) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[8192];
  size_t have = 0;
  bool found = false;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    buf[have] = '\0';
    char* line = buf;
    for (char* nl; (nl = strchr(line, '\n')) != nullptr; line = nl + 1) {
      const char* p = line;
      uintptr_t b = ParseHex(p);
      if (*p != '-') continue;
      ++p;
      uintptr_t e = ParseHex(p);
      if (b <= addr && addr < e) {
        *lo = b;
        *hi = e;
        found = true;
        break;
      }
    }
    if (found) break;
    have = static_cast<size_t>(buf + have - line);  // keep the partial line
    memmove(buf, line, have);
    if (have >= sizeof buf - 1) have = 0;  // a line longer than the buffer: drop it
  }
  close(fd);
  return found;
}
}  // namespace

void NoteThreadStackNow() noexcept {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* base = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &base, &size) == 0 && base != nullptr) {
    t_stack_lo = reinterpret_cast<uintptr_t>(base);
    t_stack_hi = t_stack_lo + size;
    t_stack_tried = true;
  }
  pthread_attr_destroy(&attr);
}

void NoteThreadStack(uintptr_t lo, uintptr_t hi) noexcept {
  if (lo >= hi) return;
  t_stack_lo = lo;
  t_stack_hi = hi;
  t_stack_tried = true;
}

bool ThreadStackBounds(uintptr_t* lo, uintptr_t* hi) noexcept {
  if (!t_stack_tried) {
    t_stack_tried = true;
    uintptr_t b = 0, e = 0;
    int saved = errno;
    if (MappingOf(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)), &b, &e)) {
      t_stack_lo = b;
      t_stack_hi = e;
    }
    errno = saved;
  }
  *lo = t_stack_lo;
  *hi = t_stack_hi;
  return t_stack_hi != 0;
}

}  // namespace lockaudit::core
