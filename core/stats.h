// core/stats: the read side of the engine's statistics, for exporters (DESIGN.md §6).
//
// Statistics are written on the audited threads into per-thread shards (ThreadState) and into
// small lock-free engine tables; nothing here is touched on the uncontended path. Collect()
// sums the shards at read time (racy reads of other threads' shards: a value may be a few
// events stale, never torn into garbage, and counters never go down).
//
// Thread-safety: Collect() may be called from any thread; call it from an engine-owned thread
// (inside an EngineScope) so that its own allocations and locks are not audited.
// Cost: O(threads x cache entries + distinct names); symbolizes each new heap-lock site once.
#ifndef LOCKAUDIT_CORE_STATS_H_
#define LOCKAUDIT_CORE_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace lockaudit::core::stats {

// Histogram buckets shared by every duration histogram: upper bounds in seconds, from 256 ns to
// about 17 s in steps of x4 (lock waits and holds span sub-microsecond to seconds).
inline constexpr int kBuckets = 14;  // finite upper bounds; counts[kBuckets] is +Inf
double BucketBound(int i);           // upper bound of bucket i, in seconds
int BucketOf(uint64_t ns);           // the bucket a duration falls in (kBuckets: above all)

struct Histogram {
  uint64_t counts[kBuckets + 1] = {};  // per bucket, NOT cumulative
  uint64_t sum_ns = 0;
  uint64_t Count() const;
  void Add(const Histogram& other);
  void Observe(uint64_t ns);  // single-threaded use only (shards use their own writers)
};

struct LockRow {
  std::string name;  // DESIGN.md §2 naming; locks sharing a name are summed into one row
  uint64_t acquisitions = 0;
  uint64_t contentions = 0;
  Histogram wait;  // contended acquisitions: time blocked
  Histogram hold;  // hold times, sampled 1 in ThreadState::kHoldSamplePeriod holds
  uint64_t gpu_sync_ns = 0;  // time spent in CUDA synchronisation while this lock was held
  uint64_t churn = 0;  // re-acquisitions counted as lock churn (core/churn.h)
  bool rwlock = false;  // a reader-writer lock: the shared_* counts below are its read mode
  uint64_t shared_acquisitions = 0, shared_contentions = 0;
};

struct CondRow {
  std::string name;  // symbol of a static condvar, else cond@<function> (<file>:<line>) of its first wait
  Histogram wake;    // signal/broadcast -> the woken waiter running again
  uint64_t budget_violations = 0;  // wakes slower than LOCKAUDIT_WAKE_BUDGET_MS
};

struct GpuSyncRow {
  std::string api;  // e.g. "cudaStreamSynchronize"
  bool under_lock = false;
  Histogram seconds;
};

struct BlockingRow {
  std::string call;  // e.g. "nanosleep", "read"
  Histogram seconds;  // its durations while the thread held audited locks
};

struct GpuKernelRow {
  std::string kernel;  // kernel name (demangled), or "memcpy_<kind>" for copies
  Histogram seconds;
};

struct ChannelRow {
  std::string name;  // its name (channels sharing a name are summed into one row)
  uint64_t capacity = 0;  // sum of the live channels' capacities (0: unbounded or none live)
  int64_t depth = 0;      // items in the live channels now
  uint64_t waiting_send = 0, waiting_recv = 0;  // threads waiting now
  uint64_t sent = 0, received = 0;              // items, destroyed channels included
  Histogram send_wait, recv_wait;               // waits: full on a send, empty on a receive
};

struct FindingCountRow {
  std::string kind;  // DESIGN.md §5 kind
  uint64_t count = 0;  // unsuppressed findings of this kind
};

struct Snapshot {
  std::vector<LockRow> locks;  // every lock name with at least one acquisition, live or destroyed
  std::vector<CondRow> conds;  // every condvar with at least one measured wake
  uint64_t wait_stalls = 0, hold_stalls = 0;
  std::vector<FindingCountRow> findings;  // one row per kind, zeros included
  uint64_t graph_locks = 0;  // live locks in the lock-order graph
  uint64_t graph_edges = 0;  // live lock-order edges
  uint64_t threads = 0;      // audited threads alive now
  uint64_t threads_blocked = 0;     // audited threads blocked in a lock acquisition now
  uint64_t threads_deadlocked = 0;  // threads in an actual deadlock the watchdog found, still stuck
  uint64_t hold_sample_period = 0;  // LockRow::hold times 1 in this many holds
  std::vector<GpuSyncRow> gpu_sync;
  std::vector<BlockingRow> blocking_under_lock;
  std::vector<ChannelRow> channels;  // every channel name with an item or a wait (core/channel.h)
  std::vector<GpuKernelRow> gpu_kernels;
  uint64_t dispatch_cpu = 0, dispatch_gpu = 0;
};

// Sums every shard. Returns an empty snapshot when the engine is not running.
Snapshot Collect();

// The wake-latency histogram of one condition variable (live threads' shards, plus retired ones
// for a static condvar).
Histogram CondWake(const void* cond);
// The q-quantile (0..1) in seconds, interpolated linearly inside its bucket as Prometheus'
// histogram_quantile() does; 0 for an empty histogram.
double Quantile(const Histogram& h, double q);

}  // namespace lockaudit::core::stats

#endif  // LOCKAUDIT_CORE_STATS_H_
