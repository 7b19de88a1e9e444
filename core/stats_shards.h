// core/stats_shards: the write side of core/stats, for the tracker and core/wake.
//
// Per-thread shards (ThreadState::lock_hist, ThreadState::cond_shard) are written by their
// owner only, with relaxed atomic stores, so Collect() can read them from another thread.
// Shard contents move into the engine-wide "retired" tables (under RetiredMutex()) when a cache
// slot is reused, a lock dies or a thread exits; Collect() reads shards and retired tables under
// the same mutex, so a flush is never seen half done and counters never go down.
// Cost: ShardObserve is a few thread-local stores, used on contended/sampled/cond-wake paths only.
#ifndef LOCKAUDIT_CORE_STATS_SHARDS_H_
#define LOCKAUDIT_CORE_STATS_SHARDS_H_

#include <atomic>
#include <cstdint>

#include "engine_mutex.h"
#include "stats.h"

namespace lockaudit::core::stats {

inline void Bump(uint64_t& x, uint64_t d) {
  std::atomic_ref<uint64_t> r(x);
  r.store(r.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}
inline uint64_t Peek(const uint64_t& x) {
  return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(x)).load(std::memory_order_relaxed);
}
// Owner-thread observation into a shard histogram.
inline void ShardObserve(Histogram& h, uint64_t ns) {
  Bump(h.counts[BucketOf(ns)], 1);
  Bump(h.sum_ns, ns);
}
// Racy-safe copy of another thread's shard histogram.
void ShardRead(const Histogram& from, Histogram* to);

EngineMutex& RetiredMutex();

// Retirement keys: which row retired statistics belong to once the lock or condvar is gone.
// A named lock by its interned name; an unnamed one by its first lock site (heap@/stack@ name).
uint64_t KeyForName(const char* interned_name);
uint64_t KeyForSite(uintptr_t pc, bool on_stack);
uint64_t KeyForAddress(uintptr_t addr);

struct LockShard {
  uint64_t acquisitions = 0, contentions = 0, gpu_sync_ns = 0, churn = 0;
  uint64_t shared_acquisitions = 0, shared_contentions = 0;
  bool rwlock = false;  // a reader-writer lock (its modes are exported)
  Histogram wait, hold;
};
// Caller holds RetiredMutex().
void RetireLockLocked(uint64_t key, const LockShard& s);
// The retired row of `key`, made empty if new, to add a shard into field by field (what
// RetireLockLocked does, without a LockShard to build first). Caller holds RetiredMutex().
LockShard& RetiredLockLocked(uint64_t key);
struct CondShardData {
  Histogram wake;
  uint64_t budget_violations = 0;
};
void RetireCondLocked(uint64_t key, const CondShardData& s);

void CountStall(bool hold);
void RecordGpuSync(const char* api, bool under_lock, uint64_t ns);
void RecordGpuActivity(const char* name, uint64_t ns);
// A blocking call (`call`: a static name) made while holding audited locks took `ns`.
void RecordBlockingUnderLock(const char* call, uint64_t ns);
void RecordDispatch(bool to_gpu);
void StatsResetAfterFork();

}  // namespace lockaudit::core::stats

#endif  // LOCKAUDIT_CORE_STATS_SHARDS_H_
