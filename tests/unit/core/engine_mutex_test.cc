// core/engine_mutex: mutual exclusion under contention, try_lock, and the sleeper count that
// decides whether an unlock wakes: a sleeping thread is always woken (no lost wake-up), and the
// count returns to zero once every sleeper has the lock.
#include "engine_mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace lockaudit::core {
namespace {

TEST(EngineMutexTest, ExcludesUnderContention) {
  EngineMutex mu;
  uint64_t counter = 0;  // plain: a lost update shows a hole in the exclusion
  constexpr int kThreads = 4;
  constexpr int kRounds = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        EngineLock lock(mu);
        const uint64_t v = counter;
        if ((i & 1023) == 0) std::this_thread::yield();  // a holder descheduled: others sleep
        counter = v + 1;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter, uint64_t{kThreads} * kRounds);
  EXPECT_EQ(mu.SleepersForTest(), 0u);
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}

TEST(EngineMutexTest, TryLockFailsWhileHeld) {
  EngineMutex mu;
  mu.lock();
  bool got = true;
  std::thread([&] { got = mu.try_lock(); }).join();
  EXPECT_FALSE(got);
  mu.unlock();
  std::thread([&] {
    got = mu.try_lock();
    if (got) mu.unlock();
  }).join();
  EXPECT_TRUE(got);
}

// Threads that outlast the spin sleep in FUTEX_WAIT; each unlock must wake one, and every one of
// them must get the lock in the end.
TEST(EngineMutexTest, SleepersAreWokenAndUncounted) {
  EngineMutex mu;
  constexpr int kWaiters = 3;
  std::atomic<int> done{0};
  mu.lock();
  std::vector<std::thread> waiters;
  for (int t = 0; t < kWaiters; ++t) {
    waiters.emplace_back([&] {
      EngineLock lock(mu);
      done.fetch_add(1);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (mu.SleepersForTest() < kWaiters && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(mu.SleepersForTest(), static_cast<uint32_t>(kWaiters));
  EXPECT_EQ(done.load(), 0);
  mu.unlock();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(done.load(), kWaiters);
  EXPECT_EQ(mu.SleepersForTest(), 0u);
}

TEST(EngineMutexTest, ResetAfterForkFreesTheLock) {
  EngineMutex mu;
  mu.lock();
  mu.ResetAfterFork();
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}

}  // namespace
}  // namespace lockaudit::core
