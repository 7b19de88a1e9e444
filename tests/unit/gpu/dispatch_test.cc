// Tests of gpu/dispatch: the CPU cosine path, PerformanceTracker, the decision rules and
// HybridExecutor with a fake GPU backend; dispatch counts read back from the engine's statistics.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cosine.h"
#include "engine_for_tests.h"
#include "fake_gpu_backend.h"
#include "hybrid_executor.h"
#include "performance_tracker.h"

namespace lockaudit::gpu {
namespace {

using testing::FakeGpuBackend;

// Reference: the textbook formula in long double, written independently of cosine.cc.
double Reference(const std::vector<float>& a, const float* b, size_t dim) {
  long double dot = 0, na = 0, nb = 0;
  for (size_t k = 0; k < dim; ++k) {
    dot += static_cast<long double>(a[k]) * b[k];
    na += static_cast<long double>(a[k]) * a[k];
    nb += static_cast<long double>(b[k]) * b[k];
  }
  if (na == 0 || nb == 0) return 0;
  return static_cast<double>(dot / (std::sqrt(na) * std::sqrt(nb)));
}

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// ---- Cosine similarity ----------------------------------------------------------------------

TEST(CosineTest, EdgeCases) {
  const std::vector<float> q = {1, 0, 0, 0};
  const std::vector<float> vs = {
      0, 1, 0, 0,      // orthogonal
      -2, 0, 0, 0,     // opposite (and scaled)
      3, 0, 0, 0,      // same direction, scaled
      0, 0, 0, 0,      // zero vector
      1, 1, 0, 0,      // 45 degrees
  };
  std::vector<float> out(5, 99);
  CosineSimilarityCpu(q.data(), vs.data(), 5, 4, out.data());
  EXPECT_FLOAT_EQ(out[0], 0);
  EXPECT_FLOAT_EQ(out[1], -1);
  EXPECT_FLOAT_EQ(out[2], 1);
  EXPECT_FLOAT_EQ(out[3], 0);
  EXPECT_NEAR(out[4], std::sqrt(0.5), 1e-6);
}

TEST(CosineTest, ZeroQueryGivesZeroForEveryVector) {
  std::mt19937 rng(1);
  const std::vector<float> q(16, 0.0f);
  const std::vector<float> vs = Random(16 * 8, rng);
  std::vector<float> out(8, 99);
  CosineSimilarityCpu(q.data(), vs.data(), 8, 16, out.data());
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

TEST(CosineTest, RandomVectorsMatchTheReferenceAndStayInRange) {
  std::mt19937 rng(42);
  for (size_t dim : {1u, 3u, 64u, 257u}) {
    const std::vector<float> q = Random(dim, rng);
    const size_t count = 50;
    const std::vector<float> vs = Random(count * dim, rng);
    std::vector<float> out(count);
    CosineSimilarityCpu(q.data(), vs.data(), count, dim, out.data());
    for (size_t i = 0; i < count; ++i) {
      EXPECT_NEAR(out[i], Reference(q, vs.data() + i * dim, dim), 1e-5) << "dim " << dim << " i " << i;
      EXPECT_LE(std::fabs(out[i]), 1.0f + 1e-6f);
    }
  }
}

TEST(CosineTest, EmptyBatchWritesNothing) {
  const std::vector<float> q = {1, 2};
  float sentinel = 7;
  CosineSimilarityCpu(q.data(), nullptr, 0, 2, &sentinel);
  EXPECT_EQ(sentinel, 7);
}

// ---- PerformanceTracker ---------------------------------------------------------------------

TEST(PerformanceTrackerTest, EmptyTrackerIsConsistentAndUnknown) {
  PerformanceTracker t(8);
  TrackerSnapshot s = t.Snapshot();
  std::string why;
  EXPECT_TRUE(IsConsistent(s, 8, &why)) << why;
  EXPECT_EQ(s.version, 0u);
  EXPECT_EQ(s.speedup, 0);
  EXPECT_EQ(s.success_rate, 1);
}

TEST(PerformanceTrackerTest, AveragesArePerItemOverTheWindow) {
  PerformanceTracker t(4);
  t.RecordCpu(1000, 10);  // 100 ns/item
  t.RecordCpu(6000, 20);  // 300 ns/item
  t.RecordGpuSuccess(500, 10);  // 50 ns/item
  TrackerSnapshot s = t.Snapshot();
  EXPECT_DOUBLE_EQ(s.cpu_avg_ns, 200);
  EXPECT_DOUBLE_EQ(s.gpu_avg_ns, 50);
  EXPECT_DOUBLE_EQ(s.speedup, 4);
  EXPECT_EQ(s.version, 3u);
  // The window forgets the oldest samples.
  for (int i = 0; i < 4; ++i) t.RecordCpu(400, 1);
  s = t.Snapshot();
  EXPECT_EQ(s.cpu_window, 4u);
  EXPECT_DOUBLE_EQ(s.cpu_avg_ns, 400);
  std::string why;
  EXPECT_TRUE(IsConsistent(s, 4, &why)) << why;
}

TEST(PerformanceTrackerTest, SuccessRateAndOomCount) {
  PerformanceTracker t(4);
  t.RecordGpuSuccess(100, 1);
  t.RecordGpuFailure(/*out_of_memory=*/true);
  t.RecordGpuFailure(false);
  t.RecordGpuSuccess(0, 1);  // untimed success: counts for the rate, adds no latency
  TrackerSnapshot s = t.Snapshot();
  EXPECT_DOUBLE_EQ(s.success_rate, 0.5);
  EXPECT_EQ(s.oom_count, 1u);
  EXPECT_EQ(s.gpu_failures, 2u);
  EXPECT_EQ(s.gpu_window, 1u);
  // Four more successes push the failures out of the window.
  for (int i = 0; i < 4; ++i) t.RecordGpuSuccess(100, 1);
  s = t.Snapshot();
  EXPECT_DOUBLE_EQ(s.success_rate, 1);
  EXPECT_EQ(s.oom_count, 1u) << "the total is not windowed";
  std::string why;
  EXPECT_TRUE(IsConsistent(s, 4, &why)) << why;
}

TEST(PerformanceTrackerTest, ConsistencyCheckRejectsTornSnapshots) {
  PerformanceTracker t(4);
  t.RecordCpu(100, 1);
  t.RecordGpuSuccess(50, 1);
  const TrackerSnapshot good = t.Snapshot();
  std::string why;
  ASSERT_TRUE(IsConsistent(good, 4, &why)) << why;
  TrackerSnapshot torn = good;
  torn.version += 1;  // a version read after another update landed
  EXPECT_FALSE(IsConsistent(torn, 4, &why));
  torn = good;
  torn.gpu_avg_ns = 25;  // a GPU average from a later moment than the speedup
  EXPECT_FALSE(IsConsistent(torn, 4, &why));
  torn = good;
  torn.gpu_failures = 1;  // counters from different moments
  EXPECT_FALSE(IsConsistent(torn, 4, &why));
  torn = good;
  torn.oom_count = 1;
  EXPECT_FALSE(IsConsistent(torn, 4, &why));
}

// ---- Decision rules -------------------------------------------------------------------------

TrackerSnapshot Measured(double cpu_ns, double gpu_ns, double success_rate = 1) {
  TrackerSnapshot s;
  s.cpu_window = s.gpu_window = 8;
  s.cpu_avg_ns = cpu_ns;
  s.gpu_avg_ns = gpu_ns;
  s.speedup = cpu_ns / gpu_ns;
  s.outcome_window = 8;
  s.success_rate = success_rate;
  return s;
}

TEST(DecideTest, EachRuleInOrder) {
  DispatchConfig c;  // min batch 1024, speedup 1.5, success 0.9, warmup 3
  const TrackerSnapshot fast = Measured(300, 100);  // 3x
  EXPECT_EQ(Decide(fast, c, 4096, true).reason, DispatchReason::kGpuFaster);
  EXPECT_TRUE(Decide(fast, c, 4096, true).to_gpu);

  DispatchConfig forced = c;
  forced.force_cpu = true;
  EXPECT_EQ(Decide(fast, forced, 4096, true).reason, DispatchReason::kForcedCpu);
  EXPECT_EQ(Decide(fast, c, 1023, true).reason, DispatchReason::kBatchTooSmall);
  EXPECT_EQ(Decide(fast, c, 1024, true).reason, DispatchReason::kGpuFaster) << "the minimum itself may go";
  EXPECT_EQ(Decide(fast, c, 4096, false).reason, DispatchReason::kNoGpu);
  EXPECT_EQ(Decide(Measured(300, 100, 0.85), c, 4096, true).reason, DispatchReason::kLowSuccessRate);
  EXPECT_EQ(Decide(Measured(300, 100, 0.9), c, 4096, true).reason, DispatchReason::kGpuFaster);
  EXPECT_EQ(Decide(Measured(140, 100), c, 4096, true).reason, DispatchReason::kGpuTooSlow);
  EXPECT_EQ(Decide(Measured(150, 100), c, 4096, true).reason, DispatchReason::kGpuFaster);

  TrackerSnapshot cold;  // nothing measured yet
  EXPECT_EQ(Decide(cold, c, 4096, true).reason, DispatchReason::kWarmupCpu);
  cold.cpu_window = 3;
  EXPECT_EQ(Decide(cold, c, 4096, true).reason, DispatchReason::kWarmupGpu);
  EXPECT_TRUE(Decide(cold, c, 4096, true).to_gpu);
  for (DispatchReason r : {DispatchReason::kForcedCpu, DispatchReason::kGpuFaster}) {
    EXPECT_STRNE(ReasonName(r), "unknown");
  }
}

TEST(DecideTest, ThresholdsComeFromTheConfiguration) {
  const TrackerSnapshot s = Measured(200, 100, 0.7);  // 2x, 70 % success
  DispatchConfig c;
  c.min_success_rate = 0.6;
  c.min_speedup = 2.5;
  EXPECT_EQ(Decide(s, c, 5000, true).reason, DispatchReason::kGpuTooSlow);
  c.min_speedup = 1.9;
  EXPECT_EQ(Decide(s, c, 5000, true).reason, DispatchReason::kGpuFaster);
  c.min_success_rate = 0.75;
  EXPECT_EQ(Decide(s, c, 5000, true).reason, DispatchReason::kLowSuccessRate);
  c.min_success_rate = 0;
  c.min_gpu_batch = 6000;
  EXPECT_EQ(Decide(s, c, 5000, true).reason, DispatchReason::kBatchTooSmall);
  c.min_gpu_batch = 0;
  EXPECT_EQ(Decide(s, c, 1, true).reason, DispatchReason::kGpuFaster);
}

// ---- HybridExecutor -------------------------------------------------------------------------

class HybridExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override { SetEngineForTesting(&testing::CoreEngine()); }
  void TearDown() override { SetEngineForTesting(nullptr); }

  std::mt19937 rng_{7};
  static constexpr size_t kDim = 8;
  BatchResult Run(HybridExecutor& ex, size_t count) {
    const std::vector<float> q = Random(kDim, rng_);
    const std::vector<float> vs = Random(count * kDim, rng_);
    BatchResult r = ex.CosineSimilarity(q.data(), vs.data(), count, kDim);
    EXPECT_EQ(r.scores.size(), count);
    for (size_t i = 0; i < count; ++i) {
      EXPECT_NEAR(r.scores[i], Reference(q, vs.data() + i * kDim, kDim), 1e-5);
    }
    return r;
  }
};

TEST_F(HybridExecutorTest, WarmsUpBothSidesThenPrefersTheFasterGpu) {
  FakeGpuBackend gpu;
  gpu.ns_per_item = 1;  // far faster than any CPU per item
  PerformanceTracker tracker;
  DispatchConfig c;
  c.min_gpu_batch = 64;
  HybridExecutor ex(&gpu, &tracker, c);
  std::vector<DispatchReason> reasons;
  for (int i = 0; i < 8; ++i) reasons.push_back(Run(ex, 128).decision.reason);
  const std::vector<DispatchReason> want = {
      DispatchReason::kWarmupCpu, DispatchReason::kWarmupCpu, DispatchReason::kWarmupCpu,
      DispatchReason::kWarmupGpu, DispatchReason::kWarmupGpu, DispatchReason::kWarmupGpu,
      DispatchReason::kGpuFaster, DispatchReason::kGpuFaster};
  EXPECT_EQ(reasons, want);
  EXPECT_EQ(gpu.runs.load(), 5u);
}

TEST_F(HybridExecutorTest, SlowGpuIsAbandonedAfterWarmup) {
  FakeGpuBackend gpu;
  gpu.ns_per_item = 1'000'000'000;  // 1 s per item "on the device": never worth it
  PerformanceTracker tracker;
  DispatchConfig c;
  c.min_gpu_batch = 16;
  HybridExecutor ex(&gpu, &tracker, c);
  for (int i = 0; i < 6; ++i) Run(ex, 32);
  const BatchResult r = Run(ex, 32);
  EXPECT_EQ(r.decision.reason, DispatchReason::kGpuTooSlow);
  EXPECT_FALSE(r.ran_on_gpu);
}

TEST_F(HybridExecutorTest, MixedBatchSizesUseThePerItemAverage) {
  FakeGpuBackend gpu;
  gpu.ns_per_item = 1;
  PerformanceTracker tracker;
  DispatchConfig c;
  c.min_gpu_batch = 100;
  HybridExecutor ex(&gpu, &tracker, c);
  size_t gpu_runs = 0;
  for (size_t count : {1u, 500u, 7u, 300u, 2u, 1000u, 99u, 100u, 400u, 800u, 3u, 1200u}) {
    const BatchResult r = Run(ex, count);
    if (count < 100) EXPECT_EQ(r.decision.reason, DispatchReason::kBatchTooSmall) << count;
    gpu_runs += r.ran_on_gpu;
  }
  const TrackerSnapshot s = tracker.Snapshot();
  std::string why;
  EXPECT_TRUE(IsConsistent(s, tracker.window(), &why)) << why;
  EXPECT_EQ(s.gpu_successes, gpu_runs);
  EXPECT_GT(s.cpu_window, 0u);
  EXPECT_DOUBLE_EQ(s.gpu_avg_ns, 1.0) << "per item, whatever the batch sizes";
}

TEST_F(HybridExecutorTest, GpuFailuresFallBackToCpuAndCountOom) {
  FakeGpuBackend gpu;
  gpu.ns_per_item = 1;
  PerformanceTracker tracker;
  DispatchConfig c;
  c.min_gpu_batch = 8;
  c.warmup_samples = 0;
  c.min_speedup = 0;
  HybridExecutor ex(&gpu, &tracker, c);
  gpu.oom_next = 1;
  BatchResult r = Run(ex, 16);  // correct scores despite the failure (checked in Run)
  EXPECT_TRUE(r.decision.to_gpu);
  EXPECT_FALSE(r.ran_on_gpu);
  TrackerSnapshot s = tracker.Snapshot();
  EXPECT_EQ(s.oom_count, 1u);
  EXPECT_EQ(s.success_rate, 0);
  // The success rate is now below the threshold: CPU from here on.
  r = Run(ex, 16);
  EXPECT_EQ(r.decision.reason, DispatchReason::kLowSuccessRate);
  EXPECT_EQ(gpu.runs.load(), 1u);
}

TEST_F(HybridExecutorTest, NoGpuAndForcedCpuNeverTouchTheBackend) {
  FakeGpuBackend gpu;
  gpu.available = false;
  PerformanceTracker tracker;
  DispatchConfig c;
  c.min_gpu_batch = 1;
  HybridExecutor ex(&gpu, &tracker, c);
  EXPECT_EQ(Run(ex, 10).decision.reason, DispatchReason::kNoGpu);
  HybridExecutor cpu_only(nullptr, &tracker, c);
  EXPECT_EQ(Run(cpu_only, 10).decision.reason, DispatchReason::kNoGpu);
  gpu.available = true;
  c.force_cpu = true;
  HybridExecutor forced(&gpu, &tracker, c);
  EXPECT_EQ(Run(forced, 10).decision.reason, DispatchReason::kForcedCpu);
  EXPECT_EQ(gpu.runs.load(), 0u);
}

TEST_F(HybridExecutorTest, DecisionsAreCountedByTheEngine) {
  const core::stats::Snapshot before = testing::CollectStats();
  FakeGpuBackend gpu;
  gpu.ns_per_item = 1;
  PerformanceTracker tracker;
  DispatchConfig c;
  c.min_gpu_batch = 4;
  c.warmup_samples = 1;
  HybridExecutor ex(&gpu, &tracker, c);
  int to_gpu = 0, to_cpu = 0;
  for (size_t count : {8u, 8u, 8u, 2u, 8u}) (Run(ex, count).decision.to_gpu ? to_gpu : to_cpu)++;
  ASSERT_GT(to_gpu, 0);
  ASSERT_GT(to_cpu, 0);
  const core::stats::Snapshot after = testing::CollectStats();
  EXPECT_EQ(after.dispatch_gpu - before.dispatch_gpu, static_cast<uint64_t>(to_gpu));
  EXPECT_EQ(after.dispatch_cpu - before.dispatch_cpu, static_cast<uint64_t>(to_cpu));
}

bool SameSnapshot(const TrackerSnapshot& a, const TrackerSnapshot& b) {
  return a.version == b.version && a.cpu_runs == b.cpu_runs && a.gpu_successes == b.gpu_successes &&
         a.gpu_failures == b.gpu_failures && a.oom_count == b.oom_count && a.gpu_timed == b.gpu_timed &&
         a.cpu_window == b.cpu_window && a.gpu_window == b.gpu_window && a.cpu_avg_ns == b.cpu_avg_ns &&
         a.gpu_avg_ns == b.gpu_avg_ns && a.speedup == b.speedup && a.success_rate == b.success_rate &&
         a.outcome_window == b.outcome_window;
}

// Concurrent callers and tracker writers: every decision is the one its own snapshot implies,
// every snapshot is internally consistent, and snapshots of the same version are identical.
TEST_F(HybridExecutorTest, ConcurrentCallersDecideFromOneConsistentSnapshot) {
  FakeGpuBackend gpu;
  gpu.ns_per_item = 2;
  PerformanceTracker tracker(16);
  DispatchConfig c;
  c.min_gpu_batch = 32;
  c.warmup_samples = 2;
  HybridExecutor ex(&gpu, &tracker, c);
  constexpr int kThreads = 8, kCalls = 150;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writer_updates{0};
  std::thread writer([&] {
    std::mt19937 rng(3);
    while (!stop.load()) {
      switch (rng() % 3) {
        case 0: tracker.RecordCpu(rng() % 5000 + 1, rng() % 64 + 1); break;
        case 1: tracker.RecordGpuSuccess(rng() % 500, rng() % 64 + 1); break;
        default: tracker.RecordGpuFailure(rng() % 2); break;
      }
      writer_updates.fetch_add(1);
    }
  });
  struct Call {
    size_t count;
    BatchResult result;
  };
  std::vector<std::vector<Call>> results(kThreads);
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      std::vector<float> q = Random(4, rng);
      for (int i = 0; i < kCalls; ++i) {
        const size_t count = rng() % 64 + 1;
        std::vector<float> vs = Random(count * 4, rng);
        BatchResult r = ex.CosineSimilarity(q.data(), vs.data(), count, 4);
        r.scores.clear();
        results[t].push_back(Call{count, std::move(r)});
      }
    });
  }
  for (std::thread& th : callers) th.join();
  stop = true;
  writer.join();

  std::map<uint64_t, TrackerSnapshot> by_version;
  size_t checked = 0;
  for (const auto& per_thread : results) {
    uint64_t last_version = 0;
    for (const Call& call : per_thread) {
      const BatchResult& r = call.result;
      std::string why;
      ASSERT_TRUE(IsConsistent(r.snapshot, tracker.window(), &why)) << why;
      const Decision d = Decide(r.snapshot, c, call.count, true);
      EXPECT_EQ(d.reason, r.decision.reason) << "decision not implied by its own snapshot";
      EXPECT_EQ(d.to_gpu, r.decision.to_gpu);
      EXPECT_GE(r.snapshot.version, last_version) << "a thread saw the tracker go back in time";
      last_version = r.snapshot.version;
      auto [it, fresh] = by_version.emplace(r.snapshot.version, r.snapshot);
      if (!fresh) {
        EXPECT_TRUE(SameSnapshot(it->second, r.snapshot))
            << "two snapshots of version " << r.snapshot.version << " differ";
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<size_t>(kThreads * kCalls));
  // Every call made exactly one update, as did every writer step.
  EXPECT_EQ(tracker.Snapshot().version, kThreads * kCalls + writer_updates.load());
}

}  // namespace
}  // namespace lockaudit::gpu
