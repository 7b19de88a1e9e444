// cancel_cv_any: a thread cancelled inside std::condition_variable_any::wait.
//
// glibc implements deferred cancellation in C++ as a forced unwind (abi::__forced_unwind):
// pthread_cond_wait, called by libstdc++'s condition_variable_any::wait, unwinds through
// libstdc++'s frames, which re-lock the user's mutex and release the condition variable's
// internal one on the way out. Natively the thread ends cleanly as PTHREAD_CANCELED, its
// catch (abi::__forced_unwind&) block sees the unwind and rethrows, the user's mutex is free
// afterwards, and notify_all() still works. An interposed pthread_cond_wait that cannot be
// unwound through (noexcept, or no unwind tables) terminates the program instead.
// Also: the same for condition_variable_any::wait_for with a long timeout (pthread_cond_timedwait /
// clockwait underneath).
#include <cxxabi.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace {

std::mutex g_user_mu;
std::condition_variable_any g_cv;
bool g_waiting = false;                // guarded by g_user_mu
std::atomic<int> g_forced_unwinds{0};  // catch blocks that saw the unwind
std::atomic<int> g_returned{0};        // waits that returned (must stay 0)

struct Mode {
  bool timed;
};

void* Waiter(void* arg) {
  const Mode* mode = static_cast<const Mode*>(arg);
  try {
    std::unique_lock<std::mutex> lock(g_user_mu);
    g_waiting = true;
    if (mode->timed) {
      g_cv.wait_for(lock, std::chrono::hours(1), [] { return false; });
    } else {
      g_cv.wait(lock, [] { return false; });
    }
    g_returned.fetch_add(1);
  } catch (abi::__forced_unwind&) {
    g_forced_unwinds.fetch_add(1);
    throw;  // a forced unwind must be rethrown
  }
  return nullptr;
}

void CancelWaiter(const char* what, bool timed) {
  {
    std::lock_guard<std::mutex> lock(g_user_mu);
    g_waiting = false;
  }
  Mode mode{timed};
  pthread_t t;
  if (pthread_create(&t, nullptr, Waiter, &mode) != 0) {
    std::fprintf(stderr, "pthread_create failed\n");
    std::exit(3);
  }
  for (;;) {  // the waiter is inside wait(): it released g_user_mu
    std::unique_lock<std::mutex> lock(g_user_mu);
    if (g_waiting) break;
    lock.unlock();
    sched_yield();
  }
  int rc = pthread_cancel(t);
  std::printf("%s: pthread_cancel -> %d\n", what, rc);
  void* result = nullptr;
  rc = pthread_join(t, &result);
  std::printf("%s: pthread_join -> %d, result %s\n", what, rc,
              result == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "other");
  std::printf("%s: forced unwinds seen so far: %d, waits returned: %d\n", what,
              g_forced_unwinds.load(), g_returned.load());
  bool free_now = g_user_mu.try_lock();
  std::printf("%s: user mutex free after the cancel: %s\n", what, free_now ? "yes" : "no");
  if (free_now) g_user_mu.unlock();
  g_cv.notify_all();  // takes the condition variable's internal mutex
  std::printf("%s: notify_all returned\n", what);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  CancelWaiter("wait", false);
  CancelWaiter("wait_for", true);
  std::printf("end: done\n");
  return 0;
}
