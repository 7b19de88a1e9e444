// core/wake through the instrumented types (issue 4, acceptance 2): actual deadlocks, wait and
// hold stalls, non-blocking contexts, condition-variable wake latency and budgets.
//
// Runs with LOCKAUDIT_STALL_MS=200 and LOCKAUDIT_WAKE_BUDGET_MS=50 (ctest ENVIRONMENT). The
// deadlock tests are death tests: the child process re-runs the test with
// LOCKAUDIT_ON_DEADLOCK=abort, deadlocks for real, and must die by SIGABRT with the report.
#include <gtest/gtest.h>
#include <lockaudit/audit.h>
#include <lockaudit/lockaudit.h>
#include <lockaudit/mutex.h>
#include <signal.h>
#include <stdlib.h>

#include <barrier>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Waits up to `limit` for a finding of `kind` that mentions `needle`; returns it (or none).
std::optional<lockaudit::Finding> AwaitFinding(const std::string& kind, const std::string& needle,
                                               std::chrono::milliseconds limit = 3000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  do {
    for (const lockaudit::Finding& f : lockaudit::findings()) {
      if (f.kind == kind && f.message.find(needle) != std::string::npos) return f;
    }
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < until);
  return std::nullopt;
}

// Holds `m` on a thread of its own for `hold`: the constructor returns once it is held, the
// destructor joins.
class HolderThread {
 public:
  HolderThread(lockaudit::mutex& m, std::chrono::milliseconds hold)
      : thread_([this, &m, hold] {
          std::lock_guard<lockaudit::mutex> l(m);
          held_.arrive_and_wait();
          std::this_thread::sleep_for(hold);
        }) {
    held_.arrive_and_wait();
  }
  ~HolderThread() { thread_.join(); }
  HolderThread(const HolderThread&) = delete;
  HolderThread& operator=(const HolderThread&) = delete;

 private:
  std::barrier<> held_{2};
  std::thread thread_;
};

size_t CountFindings(const std::string& kind, const std::string& needle) {
  size_t n = 0;
  for (const lockaudit::Finding& f : lockaudit::findings()) {
    if (f.kind == kind && f.message.find(needle) != std::string::npos) ++n;
  }
  return n;
}

TEST(WakeTest, HoldStallReportedForALongHold) {
  lockaudit::mutex config_mu("wake_test.config_mu");
  {
    std::lock_guard<lockaudit::mutex> hold(config_mu);
    std::this_thread::sleep_for(700ms);  // 3.5 thresholds
  }
  auto f = AwaitFinding("hold_stall", "wake_test.config_mu");
  ASSERT_TRUE(f.has_value());
  EXPECT_NE(f->message.find("held by thread"), std::string::npos) << f->message;
}

TEST(WakeTest, WaitStallNamesTheHolder) {
  lockaudit::mutex slow_mu("wake_test.slow_mu");
  {
    HolderThread holder(slow_mu, 700ms);
    std::lock_guard<lockaudit::mutex> wait(slow_mu);  // waits ~700 ms
  }
  auto f = AwaitFinding("wait_stall", "wake_test.slow_mu");
  ASSERT_TRUE(f.has_value());
  EXPECT_GE(f->threads.size(), 2u) << "the waiter and the holder: " << f->message;
  EXPECT_EQ(CountFindings("deadlock", "wake_test.slow_mu"), 0u);
}

TEST(WakeTest, ShortWaitsAndHoldsAreNotStalls) {
  lockaudit::mutex busy_mu("wake_test.busy_mu");
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        std::lock_guard<lockaudit::mutex> hold(busy_mu);
        std::this_thread::sleep_for(10ms);  // waits of up to ~30 ms: far below 200 ms
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::this_thread::sleep_for(300ms);  // give the watchdog time to (wrongly) report
  EXPECT_EQ(CountFindings("wait_stall", "wake_test.busy_mu"), 0u);
  EXPECT_EQ(CountFindings("hold_stall", "wake_test.busy_mu"), 0u);
  EXPECT_GT(lockaudit::lock_statistics(&busy_mu).acquisitions, 0u);
}

TEST(WakeTest, BlockingInsideNonblockingScopeIsReported) {
  lockaudit::mutex state_mu("wake_test.state_mu");
  {
    HolderThread holder(state_mu, 50ms);
    lockaudit::nonblocking_scope event_loop;
    std::lock_guard<lockaudit::mutex> blocked(state_mu);  // contended: the loop thread blocks
  }
  auto f = AwaitFinding("blocking_in_nonblocking", "wake_test.state_mu", 100ms);
  ASSERT_TRUE(f.has_value());
  EXPECT_NE(f->message.find("nonblocking_scope"), std::string::npos) << f->message;
}

TEST(WakeTest, UncontendedLockInsideNonblockingScopeIsFine) {
  lockaudit::mutex quick_mu("wake_test.quick_mu");
  {
    lockaudit::nonblocking_scope event_loop;
    std::lock_guard<lockaudit::mutex> quick(quick_mu);
  }
  EXPECT_EQ(CountFindings("blocking_in_nonblocking", "wake_test.quick_mu"), 0u);
}

TEST(WakeTest, CondWaitInsideNonblockingScopeIsReportedAndWakeLatencyMeasured) {
  lockaudit::mutex queue_mu("wake_test.queue_mu");
  lockaudit::condition_variable queue_cv;
  bool ready = false;
  std::thread producer([&] {
    std::this_thread::sleep_for(30ms);
    std::lock_guard<lockaudit::mutex> lock(queue_mu);
    ready = true;
    queue_cv.notify_one();
  });
  {
    lockaudit::nonblocking_scope event_loop;
    std::unique_lock<lockaudit::mutex> lock(queue_mu);
    queue_cv.wait(lock, [&] { return ready; });
  }
  producer.join();
  EXPECT_TRUE(AwaitFinding("blocking_in_nonblocking", "waits on the condition variable", 100ms));
  double p50 = -1;
  EXPECT_EQ(lockaudit_cond_wake_quantile(&queue_cv, 0.5, &p50), 1);
  EXPECT_GT(p50, 0.0);
  EXPECT_LT(p50, 1.0);
}

TEST(WakeTest, SlowWakeBreaksTheBudgetOnce) {
  lockaudit::mutex ready_mu("wake_test.ready_mu");
  lockaudit::condition_variable ready_cv;
  bool ready = false;
  std::atomic<bool> waiting{false};
  std::thread waiter([&] {
    for (int round = 0; round < 2; ++round) {
      std::unique_lock<lockaudit::mutex> lock(ready_mu);
      waiting = true;
      ready_cv.wait(lock, [&] { return ready; });
      ready = false;
    }
  });
  for (int round = 0; round < 2; ++round) {
    while (!waiting) std::this_thread::sleep_for(1ms);
    std::lock_guard<lockaudit::mutex> lock(ready_mu);
    waiting = false;
    ready = true;
    ready_cv.notify_one();
    std::this_thread::sleep_for(120ms);  // the woken waiter needs the mutex: > 50 ms budget
  }
  waiter.join();
  ASSERT_TRUE(AwaitFinding("wake_budget", "LOCKAUDIT_WAKE_BUDGET_MS=50", 100ms));
  EXPECT_EQ(CountFindings("wake_budget", "LOCKAUDIT_WAKE_BUDGET_MS=50"), 1u) << "once per condvar";
}

// ---- Actual deadlocks (death tests) -------------------------------------------------------------

class WakeDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child re-executes: fresh engine, env
    setenv("LOCKAUDIT_ON_DEADLOCK", "abort", 1);
    setenv("LOCKAUDIT_LOG", "stderr", 1);
  }
  void TearDown() override { unsetenv("LOCKAUDIT_ON_DEADLOCK"); }
};

template <class Lock>
[[noreturn]] void DeadlockRing(int n) {
  std::vector<std::unique_ptr<Lock>> locks;
  for (int i = 0; i < n; ++i) locks.push_back(std::make_unique<Lock>("ring_" + std::to_string(i)));
  std::barrier all_hold_one(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      std::lock_guard<Lock> mine(*locks[i]);
      all_hold_one.arrive_and_wait();
      std::lock_guard<Lock> next(*locks[(i + 1) % n]);  // blocks for good
    });
  }
  for (std::thread& t : threads) t.join();
  std::_Exit(0);  // not reached
}

TEST_F(WakeDeathTest, TwoThreadMutexDeadlockAborts) {
  EXPECT_EXIT(DeadlockRing<lockaudit::mutex>(2), ::testing::KilledBySignal(SIGABRT),
              "deadlock: 2 threads wait for each other: .*'ring_.*LOCKAUDIT_ON_DEADLOCK=abort");
}

TEST_F(WakeDeathTest, ThreeThreadMutexDeadlockAborts) {
  EXPECT_EXIT(DeadlockRing<lockaudit::mutex>(3), ::testing::KilledBySignal(SIGABRT),
              "deadlock: 3 threads wait for each other");
}

TEST_F(WakeDeathTest, SharedMutexDeadlockAborts) {
  EXPECT_EXIT(DeadlockRing<lockaudit::shared_mutex>(2), ::testing::KilledBySignal(SIGABRT),
              "deadlock: 2 threads wait for each other");
}

TEST_F(WakeDeathTest, RecursiveMutexDeadlockAborts) {
  EXPECT_EXIT(DeadlockRing<lockaudit::recursive_mutex>(2), ::testing::KilledBySignal(SIGABRT),
              "deadlock: 2 threads wait for each other");
}

}  // namespace
