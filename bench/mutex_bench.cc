// mutex_bench: the cost of an uncontended lock+unlock of an instrumented lockaudit type next to
// the std:: type it replaces (DESIGN.md §7: at most 1.5x for nothing held and for one held lock
// with a known edge).
//
//   build/bin/mutex_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   bench/compare_shim.sh      (medians, std vs lockaudit ratios, and the LD_PRELOAD shim)
//
// Every benchmark is single-threaded; one iteration is one lock+unlock of one `inner` lock.
//  - NothingHeld: nothing else is held (held stack empty on entry).
//  - OneHeld: one `outer` lock of the same type is held for the whole loop. The edge
//    outer->inner is learned (stack capture, graph insert) in the first iteration only; later
//    iterations take the "edge already known" path.
//  - TenHeld: ten outer locks are held (the known-edge path with a deeper held stack).
// PairedMutex: std::mutex and lockaudit::mutex timed alternately in blocks inside one
// benchmark (counters std_ns, lockaudit_ns, ratio), the side-by-side figure.
// SharedMutex benchmarks take `inner` with lock_shared/unlock_shared (outer locks are held
// exclusively); Mutex and RecursiveMutex use lock/unlock.
//
// Locks are constructed inside the benchmark function, so each run (the library re-runs a
// benchmark while it picks the iteration count) starts with fresh locks and re-learns its
// edge once; that one-time cost is amortised over millions of iterations.
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <mutex>
#include <shared_mutex>

#include "lockaudit/mutex.h"

namespace {

constexpr int kTenHeld = 10;

template <class M, bool kSharedInner>
inline void LockInner(M& m) {
  if constexpr (kSharedInner) {
    m.lock_shared();
  } else {
    m.lock();
  }
}

template <class M, bool kSharedInner>
inline void UnlockInner(M& m) {
  if constexpr (kSharedInner) {
    m.unlock_shared();
  } else {
    m.unlock();
  }
}

// One iteration = LockInner + UnlockInner of `inner` while `kHeld` outer locks are held.
template <class M, bool kSharedInner, int kHeld>
void RunLockUnlock(benchmark::State& state) {
  std::array<M, kHeld> outer;
  M inner;
  for (M& m : outer) m.lock();
  M* p = &inner;
  for (auto _ : state) {
    benchmark::DoNotOptimize(p);  // the compiler cannot assume which lock is taken
    LockInner<M, kSharedInner>(*p);
    benchmark::ClobberMemory();  // the critical section: keeps lock and unlock apart
    UnlockInner<M, kSharedInner>(*p);
  }
  for (int i = kHeld; i-- > 0;) outer[i].unlock();  // reverse order
  state.SetItemsProcessed(state.iterations());
}

// One iteration = kBlock lock+unlock pairs of a std::mutex, then kBlock of a lockaudit::mutex
// (the order swapped every iteration), each block timed: the two are measured side by side, so
// that a slow spell of the machine falls on both. Reports per-pair times of each and their
// ratio as counters (std_ns, lockaudit_ns, ratio); `kHeld` outer locks of each type are held.
template <int kHeld>
void RunPaired(benchmark::State& state) {
  constexpr int kBlock = 2000;
  std::array<std::mutex, kHeld> std_outer;
  std::array<lockaudit::mutex, kHeld> la_outer;
  std::mutex std_inner;
  lockaudit::mutex la_inner;
  for (auto& m : std_outer) m.lock();
  for (auto& m : la_outer) m.lock();
  std::mutex* sp = &std_inner;
  lockaudit::mutex* lp = &la_inner;
  auto block = [](auto* p) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kBlock; ++i) {
      benchmark::DoNotOptimize(p);
      p->lock();
      benchmark::ClobberMemory();
      p->unlock();
    }
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
        .count();
  };
  double std_ns = 0;
  double la_ns = 0;
  bool std_first = true;
  for (auto _ : state) {
    if (std_first) {
      std_ns += block(sp);
      la_ns += block(lp);
    } else {
      la_ns += block(lp);
      std_ns += block(sp);
    }
    std_first = !std_first;
  }
  for (int i = kHeld; i-- > 0;) la_outer[i].unlock();
  for (int i = kHeld; i-- > 0;) std_outer[i].unlock();
  const double pairs = static_cast<double>(state.iterations()) * kBlock;
  state.counters["std_ns"] = std_ns / pairs;
  state.counters["lockaudit_ns"] = la_ns / pairs;
  state.counters["ratio"] = std_ns > 0 ? la_ns / std_ns : 0;
}

}  // namespace

// BM_PairedMutex_<NothingHeld|OneHeld>: std::mutex and lockaudit::mutex side by side.
void BM_PairedMutex_NothingHeld(benchmark::State& s) { RunPaired<0>(s); }
void BM_PairedMutex_OneHeld(benchmark::State& s) { RunPaired<1>(s); }
BENCHMARK(BM_PairedMutex_NothingHeld);
BENCHMARK(BM_PairedMutex_OneHeld);

// BM_<Std|Lockaudit><Type>_<NothingHeld|OneHeld|TenHeld>
#define LOCKAUDIT_MUTEX_BENCH(Flavor, Type, M, kShared)                                  \
  void BM_##Flavor##Type##_NothingHeld(benchmark::State& s) { RunLockUnlock<M, kShared, 0>(s); } \
  void BM_##Flavor##Type##_OneHeld(benchmark::State& s) { RunLockUnlock<M, kShared, 1>(s); }     \
  void BM_##Flavor##Type##_TenHeld(benchmark::State& s) {                                 \
    RunLockUnlock<M, kShared, kTenHeld>(s);                                               \
  }                                                                                       \
  BENCHMARK(BM_##Flavor##Type##_NothingHeld);                                             \
  BENCHMARK(BM_##Flavor##Type##_OneHeld);                                                 \
  BENCHMARK(BM_##Flavor##Type##_TenHeld)

LOCKAUDIT_MUTEX_BENCH(Std, Mutex, std::mutex, false);
LOCKAUDIT_MUTEX_BENCH(Lockaudit, Mutex, lockaudit::mutex, false);
LOCKAUDIT_MUTEX_BENCH(Std, SharedMutex, std::shared_mutex, true);
LOCKAUDIT_MUTEX_BENCH(Lockaudit, SharedMutex, lockaudit::shared_mutex, true);
LOCKAUDIT_MUTEX_BENCH(Std, RecursiveMutex, std::recursive_mutex, false);
LOCKAUDIT_MUTEX_BENCH(Lockaudit, RecursiveMutex, lockaudit::recursive_mutex, false);

#undef LOCKAUDIT_MUTEX_BENCH
