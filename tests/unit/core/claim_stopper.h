// Test helper over the registry's seam (g_revive_claim_hook): stops the next thread that gives
// a freed lock's node a new life without the registry mutex inside its claim, until Release().
#ifndef LOCKAUDIT_TESTS_UNIT_CORE_CLAIM_STOPPER_H_
#define LOCKAUDIT_TESTS_UNIT_CORE_CLAIM_STOPPER_H_

#include <atomic>
#include <chrono>
#include <thread>

#include "registry.h"

namespace lockaudit::core {

class ClaimStopper {
 public:
  ClaimStopper() {
    inside_.store(0);
    released_.store(false);
    g_revive_claim_hook.store(&Stop);
  }
  ~ClaimStopper() {
    g_revive_claim_hook.store(nullptr);
    Release();
  }
  // True once a thread is stopped inside its claim (false after `timeout`); disarms the seam
  // either way, so that only one thread stops.
  bool WaitUntilInside(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (inside_.load() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    g_revive_claim_hook.store(nullptr);
    return inside_.load() != 0;
  }
  static void Release() { released_.store(true); }

 private:
  static void Stop() {
    inside_.fetch_add(1);
    while (!released_.load()) std::this_thread::yield();
  }
  static inline std::atomic<int> inside_{0};
  static inline std::atomic<bool> released_{false};
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_TESTS_UNIT_CORE_CLAIM_STOPPER_H_
