// Blocking calls made while holding an audited lock (blocking_under_lock): the sleep family,
// poll/select/epoll_wait, read/recv/accept/connect on a blocking socket, pipe, FIFO or terminal,
// fsync/fdatasync, waitpid/wait/waitid and system. Every interposer returns exactly what the real
// call returned, with its errno.
//
// Cost: a thread that holds nothing pays one thread-local load and a test of its held count
// before the real call (bench/blocking_overhead.sh measures it on a syscall-heavy loop). Only a
// thread that holds a lock looks further: whether this call can block at all (a zero timeout,
// WNOHANG, MSG_DONTWAIT, O_NONBLOCK, a regular file or a device that never blocks cannot: not
// reported), then times the call and hands it to the engine.
//
// Not noexcept: most of these are cancellation points, and a forced unwind must pass through.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "interpose.h"
#include "provider.h"
#include "raw_log.h"
#include "thread_state.h"


namespace lockaudit::preload {
namespace {

using core::Site;
using core::ThreadState;

// The next definition of `name`, looked up on the first call (out of line: the fast path is one
// load of the slot).
LOCKAUDIT_COLD void* ResolveSlow(std::atomic<void*>& slot, const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    core::RawLog("lockaudit: error: cannot resolve the real %s; calls to it fail\n", name);
    return nullptr;
  }
  slot.store(p, std::memory_order_release);
  return p;
}

__attribute__((always_inline)) inline void* Resolve(std::atomic<void*>& slot, const char* name) {
  void* p = slot.load(std::memory_order_acquire);  // (a plain load on x86-64)
  return LOCKAUDIT_PREDICT_TRUE(p != nullptr) ? p : ResolveSlow(slot, name);
}

// The calling thread's state when it holds audited locks, else null: the whole cost for a
// thread that holds nothing (one TLS load, a test of held_count).
__attribute__((always_inline)) inline ThreadState* Holding() {
  ThreadState* ts = core::internal::tls_state;
  return LOCKAUDIT_PREDICT_FALSE(ts != nullptr && ts->held_count != 0) ? ts : nullptr;
}

// Can a read, recv, accept or connect on `fd` block? Only on a blocking descriptor of a kind that
// waits for another party: a socket, a pipe or FIFO, a terminal, or an anonymous-inode one
// (eventfd, timerfd, signalfd). Not a regular file, a block device, or a device such as
// /dev/null or /dev/urandom that never waits.
bool MayBlock(int fd) {
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (fl & O_NONBLOCK) != 0) return false;
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  const mode_t type = st.st_mode & S_IFMT;
  if (type == S_IFSOCK || type == S_IFIFO || type == 0) return true;
  return type == S_IFCHR && isatty(fd);
}

bool IsZero(const timespec* t) { return t != nullptr && t->tv_sec == 0 && t->tv_nsec == 0; }

// The name a call is reported by: the _FORTIFY_SOURCE forms as the call the program wrote.
const char* CallName(const char* name) {
  if (name[0] == '_' && name[1] == '_') {
    static const char* const kPlain[][2] = {{"__read_chk", "read"}, {"__recv_chk", "recv"},
                                            {"__recvfrom_chk", "recvfrom"},
                                            {"__poll_chk", "poll"}, {"__ppoll_chk", "ppoll"}};
    for (const auto& p : kPlain) {
      if (strcmp(name, p[0]) == 0) return p[1];
    }
  }
  return name;
}

// Times the real call `fn(args...)` for a thread that holds locks and reports it; errno survives.
// Out of line, with the arguments by value: the interposer's fast path stays a tail call.
template <class Ret, class... Params, class... Args>
__attribute__((noinline)) Ret TimedCall(ThreadState& ts, const char* call, Site site,
                                        Ret (*fn)(Params...), Args... args) {
  const uint64_t token = core::OnBlockingCallBegin(ts);
  Ret rc = fn(args...);
  const int saved = errno;
  core::OnBlockingCallEnd(ts, call, site, token);
  errno = saved;
  return rc;
}

}  // namespace
}  // namespace lockaudit::preload

namespace lp = lockaudit::preload;

#define LOCKAUDIT_UNPAREN(...) __VA_ARGS__

// Defines the interposer `Ret name PARAMS` (PARAMS and ARGS parenthesised). Its fast path, for a
// thread that holds nothing: one TLS load and a test, the real function's pointer loaded, a tail
// call; no frame. The rest is out of line: the first call's lookup (a failed one fails the call
// with ENOSYS, returning `fail`), the `may_block` test (over the parameters) and the timed call.
#define LOCKAUDIT_DEFINE_BLOCKING(Ret, name, PARAMS, ARGS, may_block, fail)                     \
  namespace {                                                                                  \
  std::atomic<void*> slot_##name{};                                                            \
  LOCKAUDIT_COLD Ret Slow_##name(lockaudit::core::Site site, LOCKAUDIT_UNPAREN PARAMS) {       \
    using Fn = Ret(*) PARAMS;                                                                  \
    const auto real = reinterpret_cast<Fn>(lp::Resolve(slot_##name, #name));                  \
    if (real == nullptr) {                                                                     \
      errno = ENOSYS;                                                                          \
      return fail;                                                                             \
    }                                                                                          \
    lockaudit::core::ThreadState* ts = lp::Holding();                                          \
    if (ts == nullptr || !(may_block)) return real ARGS;                                       \
    return lp::TimedCall(*ts, lp::CallName(#name), site, real, LOCKAUDIT_UNPAREN ARGS);        \
  }                                                                                            \
  }                                                                                            \
  LOCKAUDIT_INTERPOSE Ret name PARAMS {                                                        \
    using Fn = Ret(*) PARAMS;                                                                  \
    void* const p = slot_##name.load(std::memory_order_acquire);                               \
    const lockaudit::core::ThreadState* ts = lockaudit::core::internal::tls_state;             \
    if (LOCKAUDIT_PREDICT_TRUE(p != nullptr) &&                                                \
        LOCKAUDIT_PREDICT_TRUE(ts == nullptr || ts->held_count == 0)) {                        \
      return reinterpret_cast<Fn>(p) ARGS;                                                     \
    }                                                                                          \
    return Slow_##name(LOCKAUDIT_CALLER_SITE(), LOCKAUDIT_UNPAREN ARGS);                       \
  }

// ---- The sleep family ----------------------------------------------------------------------

LOCKAUDIT_DEFINE_BLOCKING(unsigned int, sleep, (unsigned int seconds), (seconds), seconds != 0,
                          seconds)
LOCKAUDIT_DEFINE_BLOCKING(int, usleep, (useconds_t usec), (usec), usec != 0, -1)
LOCKAUDIT_DEFINE_BLOCKING(int, nanosleep, (const struct timespec* req, struct timespec* rem),
                          (req, rem), !lp::IsZero(req), -1)
// (An absolute time already past returns at once: measured, it shows a few microseconds.)
LOCKAUDIT_DEFINE_BLOCKING(int, clock_nanosleep,
                          (clockid_t clock, int flags, const struct timespec* req,
                           struct timespec* rem),
                          (clock, flags, req, rem),
                          (flags & TIMER_ABSTIME) != 0 || !lp::IsZero(req), ENOSYS)

// ---- Waiting for descriptors ----------------------------------------------------------------

LOCKAUDIT_DEFINE_BLOCKING(int, poll, (struct pollfd* fds, nfds_t n, int timeout),
                          (fds, n, timeout), timeout != 0, -1)
LOCKAUDIT_DEFINE_BLOCKING(int, ppoll,
                          (struct pollfd* fds, nfds_t n, const struct timespec* timeout,
                           const sigset_t* mask),
                          (fds, n, timeout, mask), !lp::IsZero(timeout), -1)
LOCKAUDIT_DEFINE_BLOCKING(int, select,
                          (int n, fd_set* r, fd_set* w, fd_set* e, struct timeval* timeout),
                          (n, r, w, e, timeout),
                          timeout == nullptr || timeout->tv_sec != 0 || timeout->tv_usec != 0, -1)
LOCKAUDIT_DEFINE_BLOCKING(int, pselect,
                          (int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* timeout,
                           const sigset_t* mask),
                          (n, r, w, e, timeout, mask), !lp::IsZero(timeout), -1)
LOCKAUDIT_DEFINE_BLOCKING(int, epoll_wait,
                          (int epfd, struct epoll_event* events, int max, int timeout),
                          (epfd, events, max, timeout), timeout != 0, -1)
LOCKAUDIT_DEFINE_BLOCKING(int, epoll_pwait,
                          (int epfd, struct epoll_event* events, int max, int timeout,
                           const sigset_t* mask),
                          (epfd, events, max, timeout, mask), timeout != 0, -1)

// ---- Reading and connecting -----------------------------------------------------------------

LOCKAUDIT_DEFINE_BLOCKING(ssize_t, read, (int fd, void* buf, size_t count), (fd, buf, count),
                          lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(ssize_t, readv, (int fd, const struct iovec* iov, int n), (fd, iov, n),
                          lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(ssize_t, recv, (int fd, void* buf, size_t len, int flags),
                          (fd, buf, len, flags),
                          (flags & MSG_DONTWAIT) == 0 && lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(ssize_t, recvfrom,
                          (int fd, void* buf, size_t len, int flags, struct sockaddr* from,
                           socklen_t* from_len),
                          (fd, buf, len, flags, from, from_len),
                          (flags & MSG_DONTWAIT) == 0 && lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(ssize_t, recvmsg, (int fd, struct msghdr* msg, int flags),
                          (fd, msg, flags), (flags & MSG_DONTWAIT) == 0 && lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(int, accept, (int fd, struct sockaddr* addr, socklen_t* len),
                          (fd, addr, len), lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(int, accept4,
                          (int fd, struct sockaddr* addr, socklen_t* len, int flags),
                          (fd, addr, len, flags), lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(int, connect, (int fd, const struct sockaddr* addr, socklen_t len),
                          (fd, addr, len), lp::MayBlock(fd), -1)

// ---- Disk, children, commands ---------------------------------------------------------------

LOCKAUDIT_DEFINE_BLOCKING(int, fsync, (int fd), (fd), true, -1)
LOCKAUDIT_DEFINE_BLOCKING(int, fdatasync, (int fd), (fd), true, -1)
LOCKAUDIT_DEFINE_BLOCKING(pid_t, waitpid, (pid_t pid, int* status, int options),
                          (pid, status, options), (options & WNOHANG) == 0, -1)
LOCKAUDIT_DEFINE_BLOCKING(pid_t, wait, (int* status), (status), true, -1)
LOCKAUDIT_DEFINE_BLOCKING(int, waitid, (idtype_t type, id_t id, siginfo_t* info, int options),
                          (type, id, info, options), (options & WNOHANG) == 0, -1)
// system(NULL) only asks whether a shell exists.
LOCKAUDIT_DEFINE_BLOCKING(int, system, (const char* command), (command), command != nullptr, -1)

// ---- The _FORTIFY_SOURCE forms (what -O2 -D_FORTIFY_SOURCE=2 programs call) --------------

LOCKAUDIT_DEFINE_BLOCKING(ssize_t, __read_chk, (int fd, void* buf, size_t count, size_t buf_len),
                          (fd, buf, count, buf_len), lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(ssize_t, __recv_chk,
                          (int fd, void* buf, size_t len, size_t buf_len, int flags),
                          (fd, buf, len, buf_len, flags),
                          (flags & MSG_DONTWAIT) == 0 && lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(ssize_t, __recvfrom_chk,
                          (int fd, void* buf, size_t len, size_t buf_len, int flags,
                           struct sockaddr* from, socklen_t* from_len),
                          (fd, buf, len, buf_len, flags, from, from_len),
                          (flags & MSG_DONTWAIT) == 0 && lp::MayBlock(fd), -1)
LOCKAUDIT_DEFINE_BLOCKING(int, __poll_chk, (struct pollfd* fds, nfds_t n, int timeout,
                                            size_t fds_len),
                          (fds, n, timeout, fds_len), timeout != 0, -1)
LOCKAUDIT_DEFINE_BLOCKING(int, __ppoll_chk,
                          (struct pollfd* fds, nfds_t n, const struct timespec* timeout,
                           const sigset_t* mask, size_t fds_len),
                          (fds, n, timeout, mask, fds_len), !lp::IsZero(timeout), -1)
