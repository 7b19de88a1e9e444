// SpinLock: a lock on one atomic_flag, for the gtest integration's own small state. No front-end
// audits it (under the shim a std::mutex is a pthread mutex, and would be). Held only for a few
// container operations, never while calling gtest or the engine.
#ifndef LOCKAUDIT_SRC_SPIN_LOCK_H_
#define LOCKAUDIT_SRC_SPIN_LOCK_H_

#include <sched.h>

#include <atomic>

namespace lockaudit::testing_internal {

class SpinLock {
 public:
  void lock() noexcept {
    while (flag_.test_and_set(std::memory_order_acquire)) {
      while (flag_.test(std::memory_order_relaxed)) sched_yield();
    }
  }
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

}  // namespace lockaudit::testing_internal

#endif  // LOCKAUDIT_SRC_SPIN_LOCK_H_
