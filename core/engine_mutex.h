// EngineMutex: the engine's own lock. A futex word, never a pthread mutex, so the shim never
// sees (and never audits or recurses into) the engine's locking.
//
// Thread-safety: a plain exclusive lock; not recursive. Never held on the hot path. A Clang
// thread-safety capability (thread_annotations.h): members say LOCKAUDIT_GUARDED_BY(mu).
// Cost: one CAS uncontended; a contended waiter spins (the engine's critical sections are short:
// a context switch costs more than the wait) and then sleeps in FUTEX_WAIT. The word counts the
// sleepers, so an unlock makes the FUTEX_WAKE syscall only when one sleeps: a mutex taken in
// turn by spinning threads makes no syscall at all (with the classic 0/1/2 futex, once a thread
// has slept, every unlock woke until the lock was next taken uncontended: W4, two threads, made
// 63,000 futex calls for 400,000 operations).
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
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire)) return;
    LockSlow();
  }
  bool try_lock() noexcept LOCKAUDIT_TRY_ACQUIRE(true) {
    uint32_t s = state_.load(std::memory_order_relaxed);
    while ((s & kLocked) == 0) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire)) return true;
    }
    return false;
  }
  void unlock() noexcept LOCKAUDIT_RELEASE() {
    // One read-modify-write of the word the sleepers registered on: either it sees a sleeper
    // (and wakes one), or the sleeper's FUTEX_WAIT sees the word changed and does not sleep.
    if (state_.fetch_sub(kLocked, std::memory_order_release) != kLocked) {
      RawFutex(reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1);
    }
  }
  // After fork in the child: the forking thread is the only one left.
  void ResetAfterFork() noexcept { state_.store(0, std::memory_order_relaxed); }
  // Tests: threads asleep in lock().
  uint32_t SleepersForTest() const noexcept {
    return state_.load(std::memory_order_relaxed) / kSleeper;
  }

 private:
  // The word: bit 0 locked; above it, the number of threads asleep (or about to sleep) in
  // lock(). A woken thread competes with spinning ones (no hand-off: the sections are short).
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kSleeper = 2;
  // Spins before sleeping. W4 (two threads, 200,000 operations each) on a loaded 2-core VM:
  // 256 spins, 31,000-40,000 futex calls and no gain; 1024, 5,800-9,200 calls and 20-25%
  // faster; 4096 about as fast, but every loser of a long section burns 4096 pauses. On a quiet
  // VM the same change is within noise (median 1143 -> 1093 ns/op, context switches 2164 -> 902).
  static constexpr int kSpins = 1024;

  void LockSlow() noexcept {
    for (int i = 0; i < kSpins; ++i) {
      uint32_t s = state_.load(std::memory_order_relaxed);
      if ((s & kLocked) == 0 &&
          state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire)) {
        return;
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    uint32_t s = state_.fetch_add(kSleeper, std::memory_order_relaxed) + kSleeper;
    for (;;) {
      if ((s & kLocked) == 0) {
        // Take the lock and stop counting as a sleeper in one step.
        if (state_.compare_exchange_weak(s, (s | kLocked) - kSleeper,
                                         std::memory_order_acquire)) {
          return;
        }
        continue;  // s reloaded by the failed exchange
      }
      RawFutex(reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, s);
      s = state_.load(std::memory_order_relaxed);
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
