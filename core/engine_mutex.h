// EngineMutex: the engine's own lock. A futex word, never a pthread mutex, so the shim never
// sees (and never audits or recurses into) the engine's locking.
//
// Thread-safety: a plain exclusive lock; not recursive. Never held on the hot path. A Clang
// thread-safety capability (thread_annotations.h): members say LOCKAUDIT_GUARDED_BY(mu).
// Cost: one CAS uncontended; a contended waiter spins briefly (the engine's critical sections
// are short: a context switch costs more than the wait) and then sleeps in FUTEX_WAIT.
#ifndef LOCKAUDIT_CORE_ENGINE_MUTEX_H_
#define LOCKAUDIT_CORE_ENGINE_MUTEX_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "thread_annotations.h"

namespace lockaudit::core {

// futex(2) without the libc wrapper: under the shim, syscall() is interposed, and the engine's
// own waits must never pass through an interposer (a fork handler waiting here would re-enter it).
// `timeout`: relative, for FUTEX_WAIT only; nullptr waits without one.
inline long RawFutex(uint32_t* addr, int op, uint32_t val,
                     const struct timespec* timeout = nullptr) noexcept {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = reinterpret_cast<long>(timeout);
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "0"(static_cast<long>(SYS_futex)), "D"(addr), "S"(static_cast<long>(op)),
                     "d"(static_cast<long>(val)), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
#else
  return syscall(SYS_futex, addr, op, val, timeout, nullptr, 0);
#endif
}

class LOCKAUDIT_CAPABILITY("mutex") EngineMutex {
 public:
  constexpr EngineMutex() = default;
  EngineMutex(const EngineMutex&) = delete;
  EngineMutex& operator=(const EngineMutex&) = delete;

  void lock() noexcept LOCKAUDIT_ACQUIRE() {
    uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return;
    LockSlow();
  }
  bool try_lock() noexcept LOCKAUDIT_TRY_ACQUIRE(true) {
    uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire);
  }
  void unlock() noexcept LOCKAUDIT_RELEASE() {
    if (state_.exchange(0, std::memory_order_release) == 2) {
      RawFutex(reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1);
    }
  }
  // After fork in the child: the forking thread is the only one left.
  void ResetAfterFork() noexcept { state_.store(0, std::memory_order_relaxed); }

 private:
  void LockSlow() noexcept {
    // 0 = free, 1 = locked, 2 = locked with waiters (Drepper, "Futexes Are Tricky").
    for (int i = 0; i < 128; ++i) {
      uint32_t s = state_.load(std::memory_order_relaxed);
      if (s == 0) {
        uint32_t expected = 0;
        if (state_.compare_exchange_weak(expected, 1, std::memory_order_acquire)) return;
      } else if (s == 2) {
        break;  // others are already asleep: queue behind them
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    uint32_t c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      RawFutex(reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, 2);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }
  std::atomic<uint32_t> state_{0};
};
static_assert(sizeof(EngineMutex) == sizeof(uint32_t), "EngineMutex is one futex word");

struct AdoptLockTag {};
constexpr AdoptLockTag kAdoptLock{};

class LOCKAUDIT_SCOPED_CAPABILITY EngineLock {
 public:
  explicit EngineLock(EngineMutex& mu) noexcept LOCKAUDIT_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  // Already locked by the caller.
  EngineLock(EngineMutex& mu, AdoptLockTag) noexcept LOCKAUDIT_REQUIRES(mu) : mu_(mu) {}
  ~EngineLock() LOCKAUDIT_RELEASE() { mu_.unlock(); }
  EngineLock(const EngineLock&) = delete;
  EngineLock& operator=(const EngineLock&) = delete;

 private:
  EngineMutex& mu_;
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_ENGINE_MUTEX_H_
