// core/stats: histogram buckets, the engine-wide retired tables, and the GPU/dispatch
// statistics. Collect() itself lives in tracker.cc, beside the thread states it walks.
#include "stats.h"

#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "stats_internal.h"
#include "stats_shards.h"

namespace lockaudit::core::stats {

double BucketBound(int i) {
  // 256 ns * 4^i: 256ns, 1us, 4us, 16us, 66us, 262us, 1ms, 4.2ms, 17ms, 67ms, 268ms, 1.07s,
  // 4.3s, 17.2s.
  return 256e-9 * static_cast<double>(1ull << (2 * i));
}

int BucketOf(uint64_t ns) {
  int i = 0;
  while (i < kBuckets && ns > (256ull << (2 * i))) ++i;  // at most 14 steps, off the hot path
  return i;
}

uint64_t Histogram::Count() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

void Histogram::Add(const Histogram& other) {
  for (int i = 0; i <= kBuckets; ++i) counts[i] += other.counts[i];
  sum_ns += other.sum_ns;
}

void Histogram::Observe(uint64_t ns) {
  ++counts[BucketOf(ns)];
  sum_ns += ns;
}

double Quantile(const Histogram& h, double q) {
  const uint64_t total = h.Count();
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  double seen = 0;
  for (int i = 0; i <= kBuckets; ++i) {
    const double in_bucket = static_cast<double>(h.counts[i]);
    if (seen + in_bucket >= rank && in_bucket > 0) {
      if (i == kBuckets) return BucketBound(kBuckets - 1);  // above the last bound
      const double lo = i == 0 ? 0 : BucketBound(i - 1), hi = BucketBound(i);
      return lo + (hi - lo) * (rank - seen) / in_bucket;
    }
    seen += in_bucket;
  }
  return BucketBound(kBuckets - 1);
}

void ShardRead(const Histogram& from, Histogram* to) {
  for (int i = 0; i <= kBuckets; ++i) to->counts[i] = Peek(from.counts[i]);
  to->sum_ns = Peek(from.sum_ns);
}

namespace {

constexpr uint64_t kTagShift = 61;
constexpr uint64_t kTagName = 1, kTagSite = 2, kTagStackSite = 3, kTagAddr = 4;
constexpr uint64_t kValueMask = (1ull << kTagShift) - 1;
constexpr size_t kMaxKernelNames = 1000;

struct Tables {
  EngineMutex retired_mu;
  std::unordered_map<uint64_t, LockShard> locks;  // never erased: a row's address is stable
  // The row RetiredLockLocked returned last, and its key: a thread retiring one lock after
  // another of the same row (heap locks of one site created and destroyed) finds it unhashed.
  uint64_t last_key = 0;
  LockShard* last_row = nullptr;
  std::unordered_map<uint64_t, CondShardData> conds;
  std::atomic<uint64_t> wait_stalls{0}, hold_stalls{0};
  EngineMutex gpu_mu;
  std::map<std::pair<std::string, bool>, Histogram> gpu_sync;
  std::map<std::string, Histogram> gpu_kernels;
  std::map<std::string, Histogram> blocking;  // under gpu_mu
  std::atomic<uint64_t> dispatch_cpu{0}, dispatch_gpu{0};
};

// Constructed on first use and never destroyed: used from atexit handlers and other threads
// during exit.
Tables& T() {
  static Tables* t = new Tables();
  return *t;
}

void AddLockShard(LockShard& to, const LockShard& from) {
  to.acquisitions += from.acquisitions;
  to.contentions += from.contentions;
  to.gpu_sync_ns += from.gpu_sync_ns;
  to.churn += from.churn;
  to.shared_acquisitions += from.shared_acquisitions;
  to.shared_contentions += from.shared_contentions;
  to.rwlock = to.rwlock || from.rwlock;
  to.wait.Add(from.wait);
  to.hold.Add(from.hold);
}

}  // namespace

EngineMutex& RetiredMutex() { return T().retired_mu; }

uint64_t KeyForName(const char* interned_name) {
  return (kTagName << kTagShift) | (reinterpret_cast<uintptr_t>(interned_name) & kValueMask);
}
uint64_t KeyForSite(uintptr_t pc, bool on_stack) {
  return ((on_stack ? kTagStackSite : kTagSite) << kTagShift) | (pc & kValueMask);
}
uint64_t KeyForAddress(uintptr_t addr) { return (kTagAddr << kTagShift) | (addr & kValueMask); }

LockShard& RetiredLockLocked(uint64_t key) {
  Tables& t = T();
  if (t.last_row == nullptr || t.last_key != key) {
    t.last_row = &t.locks[key];
    t.last_key = key;
  }
  return *t.last_row;
}

void RetireLockLocked(uint64_t key, const LockShard& s) { AddLockShard(RetiredLockLocked(key), s); }

void RetireCondLocked(uint64_t key, const CondShardData& s) {
  CondShardData& d = T().conds[key];
  d.wake.Add(s.wake);
  d.budget_violations += s.budget_violations;
}

void CountStall(bool hold) { (hold ? T().hold_stalls : T().wait_stalls).fetch_add(1); }

void RecordGpuSync(const char* api, bool under_lock, uint64_t ns) {
  EngineLock lock(T().gpu_mu);
  T().gpu_sync[{api ? api : "unknown", under_lock}].Observe(ns);
}

void RecordBlockingUnderLock(const char* call, uint64_t ns) {
  EngineLock lock(T().gpu_mu);
  T().blocking[call ? call : "unknown"].Observe(ns);
}

void RecordGpuActivity(const char* name, uint64_t ns) {
  EngineLock lock(T().gpu_mu);
  auto& kernels = T().gpu_kernels;
  std::string key = name ? name : "unknown";
  if (kernels.size() >= kMaxKernelNames && kernels.find(key) == kernels.end()) key = "other";
  kernels[key].Observe(ns);
}

void RecordDispatch(bool to_gpu) { (to_gpu ? T().dispatch_gpu : T().dispatch_cpu).fetch_add(1); }

void StatsResetAfterFork() {
  T().retired_mu.ResetAfterFork();
  T().gpu_mu.ResetAfterFork();
}

// ---- Read side, for Collect() ----------------------------------------------------------------

void ReadRetiredLocked(std::vector<std::pair<uint64_t, LockShard>>* locks,
                       std::vector<std::pair<uint64_t, CondShardData>>* conds) {
  locks->assign(T().locks.begin(), T().locks.end());
  conds->assign(T().conds.begin(), T().conds.end());
}

KeyKind KindOfKey(uint64_t key, uintptr_t* value) {
  *value = key & kValueMask;
  switch (key >> kTagShift) {
    case kTagName: return KeyKind::kName;
    case kTagSite: return KeyKind::kSite;
    case kTagStackSite: return KeyKind::kStackSite;
    default: return KeyKind::kAddress;
  }
}

void FillGlobal(Snapshot* s) {
  Tables& t = T();
  s->wait_stalls = t.wait_stalls.load();
  s->hold_stalls = t.hold_stalls.load();
  s->dispatch_cpu = t.dispatch_cpu.load();
  s->dispatch_gpu = t.dispatch_gpu.load();
  EngineLock lock(t.gpu_mu);
  for (const auto& [k, h] : t.gpu_sync) s->gpu_sync.push_back(GpuSyncRow{k.first, k.second, h});
  for (const auto& [k, h] : t.gpu_kernels) s->gpu_kernels.push_back(GpuKernelRow{k, h});
  for (const auto& [k, h] : t.blocking) s->blocking_under_lock.push_back(BlockingRow{k, h});
}

}  // namespace lockaudit::core::stats
