// core/stats: histogram buckets and quantiles, and Collect() over the per-thread shards fed by
// provider events (the engine runs in this test process).
#include "stats.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "hot_path.h"
#include "provider.h"
#include "thread_state.h"

namespace lockaudit::core::stats {
namespace {

TEST(StatsTest, BucketsGrowByFourFrom256Nanoseconds) {
  EXPECT_DOUBLE_EQ(BucketBound(0), 256e-9);
  EXPECT_DOUBLE_EQ(BucketBound(1), 1024e-9);
  EXPECT_NEAR(BucketBound(kBuckets - 1), 17.18, 0.01);
  EXPECT_EQ(BucketOf(0), 0);
  EXPECT_EQ(BucketOf(256), 0);    // bounds are inclusive ("le")
  EXPECT_EQ(BucketOf(257), 1);
  EXPECT_EQ(BucketOf(1024), 1);
  EXPECT_EQ(BucketOf(1025), 2);
  EXPECT_EQ(BucketOf(1000000000ull), 11);  // 1 s <= 1.07 s
  EXPECT_EQ(BucketOf(100000000000ull), kBuckets);  // 100 s: +Inf
}

TEST(StatsTest, QuantileInterpolatesInsideTheBucket) {
  Histogram h;
  EXPECT_EQ(Quantile(h, 0.5), 0.0);
  for (int i = 0; i < 100; ++i) h.Observe(2000);  // bucket 2: (1.024 us, 4.096 us]
  EXPECT_EQ(h.Count(), 100u);
  EXPECT_EQ(h.sum_ns, 200000u);
  const double p50 = Quantile(h, 0.5);
  EXPECT_GT(p50, BucketBound(1));
  EXPECT_LE(p50, BucketBound(2));
  EXPECT_NEAR(p50, BucketBound(1) + (BucketBound(2) - BucketBound(1)) * 0.5, 1e-12);
  h.Observe(100000000000ull);  // one above every bound
  EXPECT_EQ(Quantile(h, 1.0), BucketBound(kBuckets - 1));
}

// Acquires `lock` `n` times through the provider, as a front-end would.
void Acquire(const void* lock, int n) {
  ThreadState* ts = ThisThread();
  ASSERT_NE(ts, nullptr);
  for (int i = 0; i < n; ++i) {
    OnAcquired(*ts, lock, LockClass::kMutex, kExclusive, Site{1, 0});
    OnReleased(*ts, lock, Site{1, 0});
  }
}

const LockRow* Find(const Snapshot& s, const std::string& name) {
  for (const LockRow& r : s.locks) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

TEST(StatsTest, CollectSumsThreadsAndKeepsADestroyedLocksCounts) {
  static int journal;  // any address serves as a lock identity
  OnCreate(&journal, LockClass::kMutex, "stats_test.journal", kNoLevel);
  Acquire(&journal, 10);
  std::thread other([] { Acquire(&journal, 5); });
  other.join();  // its shard is retired when it exits
  Snapshot before = Collect();
  const LockRow* row = Find(before, "stats_test.journal");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->acquisitions, 15u);
  EXPECT_GE(before.threads, 1u);

  ThreadState* ts = ThisThread();
  OnDestroy(ts, &journal, Site{}, true);  // the lock is gone: its counters must not go down
  Snapshot after = Collect();
  row = Find(after, "stats_test.journal");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->acquisitions, 15u);

  bool kinds_listed = false;
  for (const FindingCountRow& f : after.findings) kinds_listed |= f.kind == "deadlock";
  EXPECT_TRUE(kinds_listed) << "every kind has a row, zeros included";
}

TEST(StatsTest, ContendedWaitsLandInTheWaitHistogram) {
  static int queue;
  OnCreate(&queue, LockClass::kMutex, "stats_test.queue", kNoLevel);
  ThreadState* ts = ThisThread();
  ASSERT_NE(ts, nullptr);
  uint64_t token = BeforeBlock(*ts, &queue, LockClass::kMutex, kExclusive, Site{1, 0});
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  AfterBlock(*ts, &queue, LockClass::kMutex, kExclusive, Site{1, 0}, token, true);
  OnReleased(*ts, &queue, Site{1, 0});
  const LockRow* row = nullptr;
  Snapshot s = Collect();
  row = Find(s, "stats_test.queue");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->contentions, 1u);
  EXPECT_EQ(row->wait.Count(), 1u);
  EXPECT_GE(row->wait.sum_ns, 2000000u);
  EXPECT_GT(Quantile(row->wait, 0.5), 0.001);  // at least 1 ms: it waited 2 ms
}

// A lock evicted from the thread's id cache retires its wait and hold histograms into its row,
// and the lock that takes over the cache slot starts with empty ones (not the evicted lock's).
TEST(StatsTest, AnEvictedLocksHistogramsAreRetiredAndNotInherited) {
  static uint64_t slots[2 * ThreadState::kIdCacheSize];
  const void* first = &slots[0];
  const void* second = nullptr;
  for (const uint64_t& s : slots) {
    if (&s != first && CacheSlot(&s) == CacheSlot(first)) second = &s;
  }
  ASSERT_NE(second, nullptr);
  OnCreate(first, LockClass::kMutex, "stats_test.evicted", kNoLevel);
  OnCreate(second, LockClass::kMutex, "stats_test.successor", kNoLevel);
  std::thread([&] {
    ThreadState* ts = ThisThread();
    ASSERT_NE(ts, nullptr);
    const uint64_t token = BeforeBlock(*ts, first, LockClass::kMutex, kExclusive, Site{1, 0});
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    AfterBlock(*ts, first, LockClass::kMutex, kExclusive, Site{1, 0}, token, true);
    OnReleased(*ts, first, Site{1, 0});  // its first hold after the fill is timed
    Snapshot cached = Collect();
    const LockRow* row = Find(cached, "stats_test.evicted");
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->wait.Count(), 1u);
    EXPECT_EQ(row->hold.Count(), 1u);
    for (int i = 0; i < 3; ++i) Acquire(second, 1);  // evicts `first`, then fills its slot
    Snapshot evicted = Collect();
    row = Find(evicted, "stats_test.evicted");
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->acquisitions, 1u);
    EXPECT_EQ(row->contentions, 1u);
    EXPECT_EQ(row->wait.Count(), 1u) << "the wait went with the eviction";
    EXPECT_GE(row->wait.sum_ns, 1000000u);
    EXPECT_EQ(row->hold.Count(), 1u);
    row = Find(evicted, "stats_test.successor");
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->acquisitions, 3u);
    EXPECT_EQ(row->contentions, 0u);
    EXPECT_EQ(row->wait.Count(), 0u) << "inherited the evicted lock's waits";
    EXPECT_LE(row->hold.Count(), 1u) << "inherited the evicted lock's holds";
  }).join();
  ThreadState* ts = ThisThread();
  OnDestroy(ts, first, Site{}, true);
  OnDestroy(ts, second, Site{}, true);
}

// A thread cycling through more locks than its id cache holds refills an entry on every
// acquisition: the first hold after a fill that evicted another lock is timed on 1 fill in
// kHoldSamplePeriod, not every time, so the sampling rate (and its cost, two clock reads) holds.
TEST(StatsTest, HoldTimingKeepsItsRateWhenLocksOutnumberTheCache) {
  constexpr int kLocks = 4 * ThreadState::kIdCacheSize;
  constexpr int kRounds = 8;
  static uint64_t locks[kLocks];
  for (int i = 0; i < kLocks; ++i) {
    OnCreate(&locks[i], LockClass::kMutex, "stats_test.cycle", kNoLevel);
  }
  std::thread([] {
    for (int r = 0; r < kRounds; ++r) {
      for (int i = 0; i < kLocks; ++i) Acquire(&locks[i], 1);
    }
  }).join();  // its shards are retired when it exits
  uint64_t acquisitions = 0, timed = 0;
  for (const LockRow& row : Collect().locks) {
    if (row.name.rfind("stats_test.cycle", 0) != 0) continue;
    acquisitions += row.acquisitions;
    timed += row.hold.Count();
  }
  EXPECT_EQ(acquisitions, uint64_t{kLocks} * kRounds);
  // At most one timed first hold per cache slot filled without evicting, then 1 in 128 fills,
  // then every 128th acquisition of an entry (none: each is evicted after one).
  const uint64_t bound = ThreadState::kIdCacheSize + acquisitions / ThreadState::kHoldSamplePeriod;
  EXPECT_GT(timed, 0u);
  EXPECT_LE(timed, bound) << "of " << acquisitions << " holds";
  ThreadState* ts = ThisThread();
  for (int i = 0; i < kLocks; ++i) OnDestroy(ts, &locks[i], Site{}, true);
}

TEST(StatsTest, GpuAndDispatchEventsAreCounted) {
  OnDispatch(true);
  OnDispatch(false);
  OnDispatch(false);
  OnGpuActivity("stats_test_kernel", 5000);
  ThreadState* ts = ThisThread();
  ASSERT_NE(ts, nullptr);
  OnGpuSyncEnd(*ts, "cudaStreamSynchronize", 1000000);
  Snapshot s = Collect();
  EXPECT_GE(s.dispatch_gpu, 1u);
  EXPECT_GE(s.dispatch_cpu, 2u);
  bool kernel = false, sync = false;
  for (const GpuKernelRow& k : s.gpu_kernels) kernel |= k.kernel == "stats_test_kernel" && k.seconds.Count() == 1;
  for (const GpuSyncRow& g : s.gpu_sync) sync |= g.api == "cudaStreamSynchronize" && !g.under_lock;
  EXPECT_TRUE(kernel);
  EXPECT_TRUE(sync);
}

}  // namespace
}  // namespace lockaudit::core::stats
