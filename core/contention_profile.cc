#include "contention_profile.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine_mutex.h"
#include "hash.h"
#include "report.h"
#include "stats.h"
#include "stats_shards.h"
#include "tracker_internal.h"

namespace lockaudit::core::profile {
namespace {

constexpr size_t kShards = 16;

struct Entry {
  NodeId lock = 0;
  StackId stack = 0;
  bool holder = false;  // `stack` is the holder's site (a contention_holder line)
  uint64_t samples = 0;
  uint64_t wait_ns = 0;
  uint64_t max_ns = 0;
  stats::Histogram wait;
};

struct Shard {
  EngineMutex mu;
  std::unordered_map<uint64_t, Entry> entries;
};

struct State {
  uint32_t rate = 0;
  Shard shards[kShards];
  std::atomic<uint32_t> size{0};
  std::atomic<uint64_t> dropped{0};
};

uint64_t KeyOf(bool holder, NodeId lock, StackId stack) {
  return Mix64(lock) ^ Mix64(stack + 0x9e3779b97f4a7c15ULL) ^ (holder ? 0x5bd1e995ULL : 0);
}

State& S() {
  static State* s = new State();  // never destroyed: threads may wait during exit
  return *s;
}

}  // namespace

void Init(const Options& opts) {
  S().rate = opts.profile_rate < 0 ? 0 : static_cast<uint32_t>(opts.profile_rate);
}

uint32_t Rate() { return S().rate; }

void Merge(bool holder, NodeId lock, StackId stack, uint64_t samples, uint64_t wait_ns,
           uint64_t max_ns, const stats::Histogram& wait) {
  State& s = S();
  const uint64_t key = KeyOf(holder, lock, stack);
  Shard& shard = s.shards[key % kShards];
  EngineLock guard(shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    if (s.size.load(std::memory_order_relaxed) >= kMaxEntries) {
      s.dropped.fetch_add(samples, std::memory_order_relaxed);
      return;
    }
    s.size.fetch_add(1, std::memory_order_relaxed);
    it = shard.entries.emplace(key, Entry{}).first;
    it->second.lock = lock;
    it->second.stack = stack;
    it->second.holder = holder;
  }
  Entry& e = it->second;
  e.samples += samples;
  e.wait_ns += wait_ns;
  e.max_ns = std::max(e.max_ns, max_ns);
  e.wait.Add(wait);
}

namespace {
void FlushSlot(bool holder, ThreadState::WaitSum& w) {
  if (w.samples == 0) return;
  Merge(holder, w.lock, w.stack, w.samples, w.wait_ns, w.max_ns, w.wait);
  stats::Bump(w.samples, 0 - w.samples);  // relaxed stores: a reader at exit sees 0 or all
  w = ThreadState::WaitSum{};
}

template <size_t N>
void AddTo(bool holder, ThreadState::WaitSum (&sums)[N], NodeId lock, StackId stack,
           uint64_t waited_ns) {
  ThreadState::WaitSum& w = sums[(Mix64(lock) ^ Mix64(stack)) % N];
  if (w.samples != 0 && (w.lock != lock || w.stack != stack)) FlushSlot(holder, w);
  if (w.samples == 0) {
    w.lock = lock;
    w.stack = stack;
  }
  stats::Bump(w.wait_ns, waited_ns);
  if (waited_ns > w.max_ns) std::atomic_ref<uint64_t>(w.max_ns).store(waited_ns, std::memory_order_relaxed);
  stats::ShardObserve(w.wait, waited_ns);
  stats::Bump(w.samples, 1);
}

struct HolderQuery {
  const ThreadState* self;
  NodeId lock;
  uintptr_t pc;
};

// The held set of another thread, read as the watchdog reads it (VisitHeldRacy). An entry counts
// when its id reads the same before and after its site: the site is then one of that lock's
// holds.
void FindHolder(ThreadState& ts, void* arg) {
  auto* q = static_cast<HolderQuery*>(arg);
  if (q->pc != 0 || &ts == q->self) return;
  VisitHeldRacy(ts, 256, [q](const HeldLock& h) {
    if (Racy(h.id) != q->lock) return true;
    const uintptr_t pc = Racy(h.site.pc);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (pc == 0 || Racy(h.id) != q->lock) return true;
    q->pc = pc;
    return false;
  });
}
}  // namespace

StackId HolderSite(ThreadState& self, NodeId lock) {
  HolderQuery q{&self, lock, 0};
  // A few tries, then give up: waiters of a hot lock must not line up on the thread list.
  bool visited = false;
  for (int attempt = 0; attempt < 3 && !visited; ++attempt) {
    visited = internal::TryVisitThreads(FindHolder, &q);
    if (!visited) __builtin_ia32_pause();
  }
  if (q.pc == 0) return 0;
  const uint32_t slot = static_cast<uint32_t>(Mix64(q.pc) % ThreadState::kHolderSiteCache);
  if (self.holder_site_pc[slot] == q.pc) return self.holder_site_stack[slot];
  const StackId stack = InternStack(&q.pc, 1, /*partial=*/true);
  self.holder_site_pc[slot] = q.pc;
  self.holder_site_stack[slot] = stack;
  return stack;
}

void Record(ThreadState& ts, NodeId lock, StackId stack, StackId holder, uint64_t waited_ns) {
  AddTo(false, ts.wait_sums, lock, stack, waited_ns);
  AddTo(true, ts.holder_sums, lock, holder, waited_ns);
}

void FlushThread(ThreadState& ts) {
  for (ThreadState::WaitSum& w : ts.wait_sums) FlushSlot(false, w);
  for (ThreadState::WaitSum& w : ts.holder_sums) FlushSlot(true, w);
}

namespace {
// Every entry as of now: the engine's table plus the sums threads still hold (read racily:
// relaxed loads of counters only their owner writes), added up in a copy (the table is not
// changed: a live read must not count a thread's sums twice when they are flushed later).
std::vector<Entry> Gather() {
  State& s = S();
  std::unordered_map<uint64_t, Entry> all;
  for (Shard& shard : s.shards) {
    EngineLock guard(shard.mu);
    for (const auto& [key, e] : shard.entries) all.emplace(key, e);
  }
  internal::VisitThreads(
      [](ThreadState& ts, void* arg) {
        auto* out = static_cast<std::unordered_map<uint64_t, Entry>*>(arg);
        auto read = [out](bool holder, const ThreadState::WaitSum& w) {
          const uint64_t samples = stats::Peek(w.samples);
          if (samples == 0) return;
          const NodeId lock = stats::Peek(w.lock);
          const StackId stack = stats::Peek(w.stack);
          Entry& e = (*out)[KeyOf(holder, lock, stack)];
          e.lock = lock;
          e.stack = stack;
          e.holder = holder;
          e.samples += samples;
          e.wait_ns += stats::Peek(w.wait_ns);
          e.max_ns = std::max(e.max_ns, stats::Peek(w.max_ns));
          stats::Histogram h;
          stats::ShardRead(w.wait, &h);
          e.wait.Add(h);
        };
        for (const ThreadState::WaitSum& w : ts.wait_sums) read(false, w);
        for (const ThreadState::WaitSum& w : ts.holder_sums) read(true, w);
      },
      &all);
  std::vector<Entry> sorted;
  sorted.reserve(all.size());
  for (auto& [key, e] : all) sorted.push_back(e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry& a, const Entry& b) { return a.wait_ns > b.wait_ns; });
  return sorted;
}
}  // namespace

std::vector<std::string> Lines() {
  State& s = S();
  std::vector<std::string> lines;
  if (s.rate == 0) return lines;
  const std::string pid = std::to_string(getpid());
  const uint64_t rate = s.rate;
  // A quantile from the histogram's buckets is interpolated: never past the largest wait seen.
  auto quantile = [](const Entry& e, double q) {
    return std::min<uint64_t>(e.max_ns, static_cast<uint64_t>(stats::Quantile(e.wait, q) * 1e9));
  };
  for (const Entry& e : Gather()) {
    const ReportLock lock = internal::LockOfId(e.lock);
    std::string line = e.holder ? "{\"type\":\"contention_holder\",\"pid\":"
                                : "{\"type\":\"contention\",\"pid\":";
    line += pid;
    line += ",\"lock\":" + JsonLockOf(lock);
    line += e.holder ? ",\"site\":" : ",\"stack\":";
    line += JsonFramesOf(e.stack == 0 ? std::vector<SymbolizedFrame>{} : SymbolizeStack(e.stack));
    line += ",\"contentions\":" + std::to_string(e.samples * rate);
    line += ",\"delay_ns\":" + std::to_string(e.wait_ns * rate);
    line += ",\"samples\":" + std::to_string(e.samples);
    line += ",\"rate\":" + std::to_string(rate);
    line += ",\"p50_ns\":" + std::to_string(quantile(e, 0.5));
    line += ",\"p99_ns\":" + std::to_string(quantile(e, 0.99));
    line += ",\"max_ns\":" + std::to_string(e.max_ns) + "}";
    lines.push_back(std::move(line));
  }
  return lines;
}

void WriteLines() {
  if (S().rate == 0 || !JsonReportOn()) return;
  for (const std::string& line : Lines()) PublishLine(line);
}

uint64_t Dropped() { return S().dropped.load(std::memory_order_relaxed); }

void ResetAfterFork() {
  for (Shard& shard : S().shards) shard.mu.ResetAfterFork();
}

}  // namespace lockaudit::core::profile
