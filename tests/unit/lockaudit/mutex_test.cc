// Behaviour of the instrumented lock types as seen through the query API (DESIGN.md §2).
// The engine is process-wide: each test uses fresh locks and looks only at the findings it
// caused (FindingsSince).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lockaudit/audit.h>
#include <lockaudit/lockaudit.h>
#include <lockaudit/mutex.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using ::testing::SizeIs;

class FindingsSince {
 public:
  FindingsSince() : start_(lockaudit::findings().size()) {}
  std::vector<lockaudit::Finding> Get() const {
    auto all = lockaudit::findings();
    return {all.begin() + static_cast<long>(start_), all.end()};
  }
  std::vector<lockaudit::Finding> OfKind(const std::string& kind) const {
    std::vector<lockaudit::Finding> out;
    for (auto& f : Get()) {
      if (f.kind == kind) out.push_back(f);
    }
    return out;
  }

 private:
  size_t start_;
};

// Runs `fn` on its own thread and waits: orders are exercised one after the other, so a test
// never actually deadlocks.
template <class Fn>
void OnThread(Fn fn) {
  std::thread t(fn);
  t.join();
}

void ExpectEdgesHaveStacks(const lockaudit::Finding& f) {
  for (const auto& e : f.edges) {
    ASSERT_FALSE(e.stack.empty()) << f.text;
    ASSERT_FALSE(e.held_stack.empty()) << f.text;
    bool has_test_file = false;
    for (const auto& fr : e.stack) has_test_file |= fr.file.find("mutex_test.cc") != std::string::npos;
    EXPECT_TRUE(has_test_file) << "no frame in this file:\n" << f.text;
  }
}

TEST(MutexTest, ReportsTwoLockCycleOnceWithBothStacks) {
  FindingsSince since;
  lockaudit::mutex a("two.a"), b("two.b");
  for (int round = 0; round < 3; ++round) {
    OnThread([&] { std::scoped_lock l1(a); std::lock_guard<lockaudit::mutex> l2(b); });
    OnThread([&] { std::lock_guard<lockaudit::mutex> l1(b); std::lock_guard<lockaudit::mutex> l2(a); });
  }
  auto cycles = since.OfKind("lock_order_cycle");
  ASSERT_THAT(cycles, SizeIs(1));
  const auto& f = cycles[0];
  EXPECT_THAT(f.edges, SizeIs(2));
  EXPECT_FALSE(f.single_thread);
  EXPECT_NE(f.text.find("'two.a'"), std::string::npos);
  EXPECT_NE(f.text.find("'two.b'"), std::string::npos);
  EXPECT_EQ(f.text.rfind("lockaudit: lock_order_cycle: ", 0), 0u);
  ExpectEdgesHaveStacks(f);
  EXPECT_THAT(since.Get(), SizeIs(1));
}

void RingCycle(size_t n) {
  FindingsSince since;
  std::vector<std::unique_ptr<lockaudit::mutex>> m;
  for (size_t i = 0; i < n; ++i) m.push_back(std::make_unique<lockaudit::mutex>("ring" + std::to_string(n) + "." + std::to_string(i)));
  for (size_t i = 0; i < n; ++i) {
    OnThread([&] {
      std::lock_guard<lockaudit::mutex> l1(*m[i]);
      std::lock_guard<lockaudit::mutex> l2(*m[(i + 1) % n]);
    });
  }
  auto cycles = since.OfKind("lock_order_cycle");
  ASSERT_THAT(cycles, SizeIs(1));
  EXPECT_THAT(cycles[0].edges, SizeIs(n));
  EXPECT_THAT(cycles[0].locks, SizeIs(n));
  ExpectEdgesHaveStacks(cycles[0]);
  // Every edge of the ring, each once.
  for (size_t i = 0; i < n; ++i) {
    bool found = false;
    for (const auto& e : cycles[0].edges) {
      std::string from, to;
      for (const auto& l : cycles[0].locks) {
        if (l.id == e.from) from = l.name;
        if (l.id == e.to) to = l.name;
      }
      found |= from == "ring" + std::to_string(n) + "." + std::to_string(i) &&
               to == "ring" + std::to_string(n) + "." + std::to_string((i + 1) % n);
    }
    EXPECT_TRUE(found) << "edge " << i << " missing:\n" << cycles[0].text;
  }
}

TEST(MutexTest, ReportsThreeLockCycle) { RingCycle(3); }
TEST(MutexTest, ReportsFiveLockCycle) { RingCycle(5); }

TEST(MutexTest, SingleThreadCycleIsMarked) {
  FindingsSince since;
  lockaudit::mutex a("single.a"), b("single.b");
  { std::lock_guard l1(a); std::lock_guard l2(b); }
  { std::lock_guard l1(b); std::lock_guard l2(a); }
  auto cycles = since.OfKind("lock_order_cycle");
  ASSERT_THAT(cycles, SizeIs(1));
  EXPECT_TRUE(cycles[0].single_thread);
}

TEST(MutexTest, GateLockPreventsReport) {
  FindingsSince since;
  lockaudit::mutex g("gate.g"), a("gate.a"), b("gate.b");
  OnThread([&] { std::lock_guard l0(g); std::lock_guard l1(a); std::lock_guard l2(b); });
  OnThread([&] { std::lock_guard l0(g); std::lock_guard l1(b); std::lock_guard l2(a); });
  EXPECT_THAT(since.Get(), SizeIs(0));
}

TEST(MutexTest, GateThatIsOnceMissingNoLongerProtects) {
  FindingsSince since;
  lockaudit::mutex g("gate2.g"), a("gate2.a"), b("gate2.b");
  OnThread([&] { std::lock_guard l0(g); std::lock_guard l1(a); std::lock_guard l2(b); });
  OnThread([&] { std::lock_guard l0(g); std::lock_guard l1(b); std::lock_guard l2(a); });
  EXPECT_THAT(since.Get(), SizeIs(0));
  OnThread([&] { std::lock_guard l1(b); std::lock_guard l2(a); });  // without the gate
  EXPECT_THAT(since.OfKind("lock_order_cycle"), SizeIs(1));
}

TEST(MutexTest, TrylockBackoffNotReported) {
  FindingsSince since;
  lockaudit::mutex a("try.a"), b("try.b");
  OnThread([&] {
    std::lock_guard l1(a);
    if (b.try_lock()) b.unlock();
  });
  OnThread([&] {
    std::lock_guard l1(b);
    if (a.try_lock()) a.unlock();
  });
  EXPECT_THAT(since.Get(), SizeIs(0));
}

TEST(MutexTest, EdgesOutOfTrylockedLockCount) {
  FindingsSince since;
  lockaudit::mutex a("tryout.a"), b("tryout.b");
  OnThread([&] {
    ASSERT_TRUE(a.try_lock());
    { std::lock_guard l(b); }  // a (try-acquired) -> b is a real edge
    a.unlock();
  });
  OnThread([&] { std::lock_guard l1(b); std::lock_guard l2(a); });
  EXPECT_THAT(since.OfKind("lock_order_cycle"), SizeIs(1));
}

TEST(MutexTest, RecursiveRelockNotReported) {
  FindingsSince since;
  lockaudit::recursive_mutex r("rec.r");
  lockaudit::mutex m("rec.m");
  OnThread([&] {
    std::lock_guard l1(r);
    std::lock_guard l2(r);
    std::lock_guard l3(m);
    std::lock_guard l4(r);
  });
  EXPECT_THAT(since.Get(), SizeIs(0));
  EXPECT_FALSE(lockaudit::is_held(r));
}

// The same re-locks with a lock held around them, many times over: after the first rounds every
// acquisition takes the fast path, which must still see the re-lock (recursion, not a second
// entry) although it no longer scans the held stack for a cached context.
TEST(MutexTest, RelocksUnderAHeldLockKeepTheBooksOnTheFastPath) {
  FindingsSince since;
  lockaudit::mutex a("fastrelock.a");
  lockaudit::recursive_mutex r("fastrelock.r");
  lockaudit::shared_mutex s("fastrelock.s");
  OnThread([&] {
    for (int i = 0; i < 500; ++i) {
      std::lock_guard la(a);
      r.lock();
      r.lock();
      r.unlock();
      ASSERT_TRUE(lockaudit::is_held(r)) << "round " << i;
      r.unlock();
      ASSERT_FALSE(lockaudit::is_held(r)) << "round " << i;
      s.lock_shared();
      s.lock_shared();  // a recursive read
      s.unlock_shared();
      ASSERT_TRUE(lockaudit::is_held(s)) << "round " << i;
      s.unlock_shared();
      ASSERT_FALSE(lockaudit::is_held(s)) << "round " << i;
    }
  });
  EXPECT_THAT(since.Get(), SizeIs(0));
  EXPECT_EQ(lockaudit::lock_statistics(&r).acquisitions, 1000u);
}

// One lock taken, many times over, under changing held sets: the inline fast path covers only
// the held set of the last known context and leaves the others to the full fast path and the
// slow path. Every acquisition must be counted and both edges learned: the inversions taken
// afterwards are reported.
TEST(MutexTest, ALockTakenUnderChangingHeldSetsKeepsItsEdgesAndCounts) {
  FindingsSince since;
  lockaudit::mutex a("alternate.a");
  lockaudit::mutex b("alternate.b");
  lockaudit::mutex c("alternate.c");
  OnThread([&] {
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard la(a);
        std::lock_guard lc(c);
      }
      {
        std::lock_guard lb(b);
        std::lock_guard lc(c);
      }
      std::lock_guard lc(c);
      ASSERT_TRUE(lockaudit::is_held(c)) << "round " << i;
    }
  });
  EXPECT_THAT(since.Get(), SizeIs(0));
  EXPECT_EQ(lockaudit::lock_statistics(&c).acquisitions, 3000u);
  OnThread([&] { std::lock_guard lc(c); std::lock_guard la(a); });
  OnThread([&] { std::lock_guard lc(c); std::lock_guard lb(b); });
  EXPECT_THAT(since.OfKind("lock_order_cycle"), SizeIs(2));
}

TEST(MutexTest, RecursiveMutexInversionReported) {
  FindingsSince since;
  lockaudit::recursive_mutex r("recinv.r");
  lockaudit::mutex m("recinv.m");
  OnThread([&] { std::lock_guard l1(r); std::lock_guard l2(m); });
  OnThread([&] { std::lock_guard l1(m); std::lock_guard l2(r); });
  EXPECT_THAT(since.OfKind("lock_order_cycle"), SizeIs(1));
}

TEST(MutexTest, ReadReadCycleIsNotADeadlockButWriteReadIs) {
  FindingsSince since;
  lockaudit::shared_mutex a("rw.a"), b("rw.b");
  OnThread([&] { std::shared_lock l1(a); std::shared_lock l2(b); });
  OnThread([&] { std::shared_lock l1(b); std::shared_lock l2(a); });
  EXPECT_THAT(since.Get(), SizeIs(0)) << "two readers never block each other";
  OnThread([&] { std::unique_lock l1(a); std::shared_lock l2(b); });
  OnThread([&] { std::unique_lock l1(b); std::shared_lock l2(a); });
  EXPECT_THAT(since.OfKind("lock_order_cycle"), SizeIs(1));
}

TEST(MutexTest, HierarchyViolation) {
  FindingsSince since;
  lockaudit::mutex low("hier.low", 1), high("hier.high", 2);
  OnThread([&] { std::lock_guard l1(low); std::lock_guard l2(high); });
  EXPECT_THAT(since.Get(), SizeIs(0));
  OnThread([&] { std::lock_guard l1(high); std::lock_guard l2(low); });
  auto v = since.OfKind("hierarchy_violation");
  ASSERT_THAT(v, SizeIs(1));
  EXPECT_NE(v[0].message.find("'hier.low' (level 1) acquired while holding 'hier.high' (level 2)"),
            std::string::npos) << v[0].message;
}

TEST(MutexTest, EqualLevelsViolate) {
  FindingsSince since;
  lockaudit::mutex a("eq.a", 3), b("eq.b", 3);
  OnThread([&] { std::lock_guard l1(a); std::lock_guard l2(b); });
  EXPECT_THAT(since.OfKind("hierarchy_violation"), SizeIs(1));
}

TEST(MutexTest, VerifyHierarchyFindsLatentViolation) {
  lockaudit::mutex x("latent.x"), y("latent.y");
  OnThread([&] { std::lock_guard l1(x); std::lock_guard l2(y); });
  lockaudit_set_level(&x, 5);
  lockaudit_set_level(&y, 1);
  bool found = false;
  for (const auto& v : lockaudit::verify_hierarchy()) found |= v.from.name == "latent.x" && v.to.name == "latent.y";
  EXPECT_TRUE(found);
}

TEST(MutexTest, DoubleLockReportedBeforeBlocking) {
  FindingsSince since;
  lockaudit::timed_mutex m("double.m");
  OnThread([&] {
    std::lock_guard l(m);
    // Would block forever with lock(); the timed form returns, after the report.
    EXPECT_FALSE(m.try_lock_for(std::chrono::milliseconds(20)));
  });
  auto v = since.OfKind("double_lock");
  ASSERT_THAT(v, SizeIs(1));
  EXPECT_EQ(v[0].locks[0].name, "double.m");
  EXPECT_FALSE(v[0].stack.empty());
}

TEST(MutexTest, UnlockNotHeld) {
  FindingsSince since;
  static std::atomic<int> custom_lock{0};  // a lock of the program's own, annotated
  OnThread([&] { lockaudit_acquire(&custom_lock, LOCKAUDIT_ACQUIRE_EXCLUSIVE); });
  OnThread([&] { lockaudit_release(&custom_lock); });
  auto v = since.OfKind("unlock_not_held");
  ASSERT_THAT(v, SizeIs(1));
}

TEST(MutexTest, UnlockOfNamedMutexByNonOwnerIsReported) {
  FindingsSince since;
  lockaudit::mutex m("nonowner.m");
  OnThread([&] { m.lock(); });    // exits holding it
  OnThread([&] { m.unlock(); });  // glibc's default mutex lets any thread unlock it
  auto v = since.OfKind("unlock_not_held");
  ASSERT_THAT(v, SizeIs(1));
  EXPECT_EQ(v[0].locks[0].name, "nonowner.m");
}

TEST(MutexTest, DestroyHeld) {
  FindingsSince since;
  int custom_lock = 0;
  OnThread([&] {
    lockaudit_acquire(&custom_lock, LOCKAUDIT_ACQUIRE_EXCLUSIVE);
    lockaudit_destroy(&custom_lock);
  });
  EXPECT_THAT(since.OfKind("destroy_held"), SizeIs(1));
}

TEST(MutexTest, ThreadExitHolding) {
  FindingsSince since;
  int custom_lock = 0;
  lockaudit_set_name(&custom_lock, "exit.lock");
  OnThread([&] { lockaudit_acquire(&custom_lock, LOCKAUDIT_ACQUIRE_EXCLUSIVE); });
  auto v = since.OfKind("thread_exit_holding");
  ASSERT_THAT(v, SizeIs(1));
  EXPECT_EQ(v[0].locks[0].name, "exit.lock");
  lockaudit_destroy(&custom_lock);
}

TEST(MutexTest, DestroyedLockEdgesAreGone) {
  FindingsSince since;
  uint64_t old_a = 0, old_b = 0;
  {
    auto a = std::make_unique<lockaudit::mutex>(), b = std::make_unique<lockaudit::mutex>();
    OnThread([&] { std::lock_guard l1(*a); std::lock_guard l2(*b); });
    auto g = lockaudit::graph();
    for (const auto& n : g.nodes) {
      if (n.addr == reinterpret_cast<uintptr_t>(a.get())) old_a = n.id;
      if (n.addr == reinterpret_cast<uintptr_t>(b.get())) old_b = n.id;
    }
    ASSERT_NE(old_a, 0u);
    ASSERT_NE(old_b, 0u);
  }
  // Same sizes: the allocator hands the same addresses back.
  auto a2 = std::make_unique<lockaudit::mutex>(), b2 = std::make_unique<lockaudit::mutex>();
  OnThread([&] { std::lock_guard l1(*b2); std::lock_guard l2(*a2); });
  EXPECT_THAT(since.Get(), SizeIs(0));
  for (const auto& [from, to] : lockaudit::graph().edges) {
    EXPECT_NE(from, old_a);
    EXPECT_NE(to, old_a);
    EXPECT_NE(from, old_b);
    EXPECT_NE(to, old_b);
  }
}

TEST(MutexTest, ThreadHolding200Locks) {
  FindingsSince since;
  std::vector<std::unique_ptr<lockaudit::mutex>> m;
  for (int i = 0; i < 200; ++i) m.push_back(std::make_unique<lockaudit::mutex>());
  OnThread([&] {
    for (int round = 0; round < 3; ++round) {
      for (auto& x : m) x->lock();
      for (auto& x : m) EXPECT_TRUE(lockaudit::is_held(*x));
      for (auto it = m.rbegin(); it != m.rend(); ++it) (*it)->unlock();
    }
    for (auto& x : m) EXPECT_FALSE(lockaudit::is_held(*x));
  });
  EXPECT_THAT(since.Get(), SizeIs(0));
}

TEST(MutexTest, OutOfOrderReleaseKeepsChecking) {
  FindingsSince since;
  lockaudit::mutex a("ooo.a", 1), b("ooo.b", 2), c("ooo.c", 3);
  OnThread([&] {
    a.lock();
    c.lock();
    a.unlock();  // released below the top of the held stack
    b.lock();    // c (3) is still held: violation
    b.unlock();
    c.unlock();
  });
  EXPECT_THAT(since.OfKind("hierarchy_violation"), SizeIs(1));
}

TEST(MutexTest, ConditionVariableReleasesMutexWhileWaiting) {
  FindingsSince since;
  lockaudit::mutex m("cv.m"), other("cv.other");
  lockaudit::condition_variable cv;
  bool ready = false;
  std::thread waiter([&] {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return ready; });
    EXPECT_TRUE(lockaudit::is_held(m));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    // other -> m while the waiter is parked in wait(): not a finding, and no edge m -> other
    std::lock_guard l1(other);
    std::lock_guard l2(m);
    ready = true;
  }
  cv.notify_one();
  waiter.join();
  EXPECT_THAT(since.Get(), SizeIs(0));
}

TEST(MutexTest, WorksWithConditionVariableAny) {
  lockaudit::shared_mutex m("cvany.m");
  std::condition_variable_any cv;
  bool ready = false;
  std::thread t([&] {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return ready; });
  });
  {
    std::unique_lock lk(m);
    ready = true;
  }
  cv.notify_all();
  t.join();
  EXPECT_FALSE(lockaudit::is_held(m));
}

TEST(MutexTest, StatisticsCountAcquisitionsAndContention) {
  lockaudit::mutex m("stats.m");
  std::atomic<bool> go{false};
  std::thread holder([&] {
    std::lock_guard l(m);
    go = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  });
  while (!go) std::this_thread::yield();
  OnThread([&] { std::lock_guard l(m); });  // must wait for the holder
  holder.join();
  for (int i = 0; i < 100; ++i) std::lock_guard l(m);
  auto s = lockaudit::lock_statistics(&m);
  EXPECT_EQ(s.acquisitions, 102u);
  EXPECT_EQ(s.contentions, 1u);
  EXPECT_GE(s.wait_ns, 1000000u) << "blocked for ~30 ms";
}

// Holds are timed for 1 in 128 acquisitions of each lock; the estimate stands for all of them.
// Wall-clock holds on a loaded machine can be preempted (a preempted sampled hold moves the
// estimate a lot), so up to three rounds run, each on a fresh lock; one within 2x passes. A
// broken estimate (no samples, unscaled, scaled twice: 0, 1/128 or 128x) fails every round.
TEST(MutexTest, HoldTimeEstimateCoversTheUnsampledHolds) {
  constexpr int kHolds = 1024;
  constexpr auto kHold = std::chrono::microseconds(50);
  std::string rounds;
  for (int round = 0; round < 3; ++round) {
    lockaudit::mutex m("holdest.m" + std::to_string(round));
    std::chrono::nanoseconds total{0};
    OnThread([&] {
      for (int i = 0; i < kHolds; ++i) {
        std::lock_guard l(m);
        const auto start = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - start < kHold) {
        }
        total += std::chrono::steady_clock::now() - start;
      }
    });
    auto s = lockaudit::lock_statistics(&m);
    ASSERT_EQ(s.acquisitions, static_cast<uint64_t>(kHolds));
    const double ratio = static_cast<double>(s.hold_ns) / static_cast<double>(total.count());
    if (ratio > 0.5 && ratio < 2.0) return;
    rounds += " " + std::to_string(ratio);
  }
  ADD_FAILURE() << "estimated / real hold time, per round:" << rounds;
}

TEST(MutexTest, AssertHeldAborts) {
  lockaudit::mutex m("assert.m");
  EXPECT_DEATH(lockaudit::assert_held(m), "assertion failed at .*mutex_test.cc:[0-9]+: lock .* is not held");
  std::lock_guard l(m);
  lockaudit::assert_held(m);
  EXPECT_DEATH(lockaudit::assert_not_held(m), "is held by this thread");
}

TEST(MutexTest, FindingCallbackSeesEachFinding) {
  std::vector<std::string> kinds;
  int h = lockaudit::on_finding([&](const lockaudit::Finding& f) { kinds.push_back(f.kind); });
  lockaudit::mutex a("cb.a"), b("cb.b");
  OnThread([&] { std::lock_guard l1(a); std::lock_guard l2(b); });
  OnThread([&] { std::lock_guard l1(b); std::lock_guard l2(a); });
  lockaudit::remove_finding_callback(h);
  EXPECT_THAT(kinds, ::testing::ElementsAre("lock_order_cycle"));
}

}  // namespace
