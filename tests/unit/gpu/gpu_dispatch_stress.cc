// gpu_dispatch_stress: 8 threads call the hybrid dispatcher while 2 more update its tracker, in a
// program that links no lockaudit library; the ctest runs it under the LD_PRELOAD shim and
// requires a report without findings (the tracker's one lock, taken by 10 threads, never nested).
//
// Checks, exit status 1 on the first violation:
//   * every decision is the one Decide() derives from the snapshot it carries (one snapshot per
//     decision), and every snapshot passes IsConsistent() (no torn reads);
//   * snapshots of the same version are identical, and each thread sees versions only grow;
//   * the final version equals the number of updates made (none lost);
//   * with --expect-engine: the dispatch events reached an engine (the shim's).
// Usage: gpu_dispatch_stress [--expect-engine] [calls_per_thread]
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine_bridge.h"
#include "fake_gpu_backend.h"
#include "hybrid_executor.h"
#include "performance_tracker.h"

using namespace lockaudit::gpu;

namespace {

int Fail(const std::string& why) {
  std::fprintf(stderr, "gpu_dispatch_stress: FAILED: %s\n", why.c_str());
  return 1;
}

std::string Describe(const TrackerSnapshot& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "v%llu cpu=%.1f gpu=%.1f speedup=%.3f rate=%.3f oom=%llu",
                static_cast<unsigned long long>(s.version), s.cpu_avg_ns, s.gpu_avg_ns, s.speedup,
                s.success_rate, static_cast<unsigned long long>(s.oom_count));
  return buf;
}

bool Same(const TrackerSnapshot& a, const TrackerSnapshot& b) {
  return a.version == b.version && a.cpu_runs == b.cpu_runs && a.gpu_successes == b.gpu_successes &&
         a.gpu_failures == b.gpu_failures && a.oom_count == b.oom_count && a.gpu_timed == b.gpu_timed &&
         a.cpu_window == b.cpu_window && a.gpu_window == b.gpu_window && a.cpu_avg_ns == b.cpu_avg_ns &&
         a.gpu_avg_ns == b.gpu_avg_ns && a.speedup == b.speedup && a.success_rate == b.success_rate &&
         a.outcome_window == b.outcome_window;
}

}  // namespace

int main(int argc, char** argv) {
  bool expect_engine = false;
  int calls = 400;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--expect-engine") == 0) {
      expect_engine = true;
    } else {
      calls = std::atoi(argv[i]);
    }
  }
  if (expect_engine && !Engine().Complete()) return Fail("no lockaudit engine found in the process");

  constexpr int kCallers = 8, kWriters = 2;
  testing::FakeGpuBackend gpu;
  PerformanceTracker tracker(16);
  DispatchConfig config;
  config.min_gpu_batch = 24;
  config.warmup_samples = 2;
  config.min_success_rate = 0.5;
  HybridExecutor executor(&gpu, &tracker, config);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writer_updates{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(17 + w);
      while (!stop.load(std::memory_order_relaxed)) {
        switch (rng() % 4) {
          case 0: tracker.RecordCpu(rng() % 20000 + 1, rng() % 64 + 1); break;
          case 1: tracker.RecordGpuSuccess(rng() % 4000, rng() % 64 + 1); break;
          case 2: tracker.RecordGpuFailure(rng() % 2 == 0); break;
          default: gpu.ns_per_item = rng() % 400 + 1; continue;  // the device gets faster/slower
        }
        writer_updates.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  struct Seen {
    size_t count;
    Decision decision;
    TrackerSnapshot snapshot;
  };
  std::vector<std::vector<Seen>> seen(kCallers);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      std::normal_distribution<float> d(0, 1);
      const size_t dim = 16;
      std::vector<float> q(dim), vs;
      for (float& x : q) x = d(rng);
      for (int i = 0; i < calls; ++i) {
        const size_t count = rng() % 64 + 1;  // mixed batch sizes around min_gpu_batch
        vs.resize(count * dim);
        for (float& x : vs) x = d(rng);
        BatchResult r = executor.CosineSimilarity(q.data(), vs.data(), count, dim);
        seen[t].push_back(Seen{count, r.decision, r.snapshot});
      }
    });
  }
  for (std::thread& c : callers) c.join();
  stop = true;
  for (std::thread& w : threads) w.join();

  std::map<uint64_t, TrackerSnapshot> by_version;
  size_t to_gpu = 0;
  for (int t = 0; t < kCallers; ++t) {
    uint64_t last = 0;
    for (const Seen& s : seen[t]) {
      std::string why;
      if (!IsConsistent(s.snapshot, tracker.window(), &why)) {
        return Fail("torn snapshot (" + why + "): " + Describe(s.snapshot));
      }
      const Decision want = Decide(s.snapshot, config, s.count, true);
      if (want.reason != s.decision.reason || want.to_gpu != s.decision.to_gpu) {
        return Fail(std::string("decision ") + ReasonName(s.decision.reason) +
                    " is not the one its snapshot gives (" + ReasonName(want.reason) + "): " +
                    Describe(s.snapshot));
      }
      if (s.snapshot.version < last) return Fail("a thread saw the tracker's version go back");
      last = s.snapshot.version;
      auto [it, fresh] = by_version.emplace(s.snapshot.version, s.snapshot);
      if (!fresh && !Same(it->second, s.snapshot)) {
        return Fail("two different snapshots carry version " + std::to_string(s.snapshot.version));
      }
      to_gpu += s.decision.to_gpu;
    }
  }
  const uint64_t updates = static_cast<uint64_t>(kCallers) * calls + writer_updates.load();
  // Each call made one update (the fake GPU never fails here), as did each writer step.
  const TrackerSnapshot final_snapshot = tracker.Snapshot();
  if (final_snapshot.version != updates) {
    return Fail("final version " + std::to_string(final_snapshot.version) + " != updates made " +
                std::to_string(updates));
  }
  std::printf("gpu_dispatch_stress: %d threads x %d calls: %zu decisions checked (%zu to GPU), %zu "
              "distinct versions, %llu updates, engine %s\n",
              kCallers, calls, static_cast<size_t>(kCallers) * calls, to_gpu, by_version.size(),
              static_cast<unsigned long long>(updates), Engine().Complete() ? "present" : "absent");
  return 0;
}
