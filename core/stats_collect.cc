// The statistics read side (core/stats.h): Collect() and CondWake() for exporters, StatsFor()
// for lockaudit::stats(), and the names of statistics rows.
//
// Owns: the row-name cache (KeyNames: stats key -> name, each resolved once so a series keeps its
// name across scrapes), under its own leaf mutex.
// Thread-safety: any thread (the exporter's, a program's); reads the thread states' shards with
// racy relaxed loads (a value may be slightly stale, never torn: each is one word) and the
// retired table under stats::RetiredMutex(). Never on a lock path.
#include <atomic>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "channel.h"
#include "engine_mutex.h"
#include "lock_names.h"
#include "provider.h"
#include "report.h"
#include "stacks.h"
#include "static_data.h"
#include "stats.h"
#include "stats_internal.h"
#include "stats_shards.h"
#include "thread_state.h"
#include "tracker.h"
#include "tracker_internal.h"
#include "wake.h"

namespace lockaudit::core {

LockStats StatsForId(NodeId id) {
  LockStats s;
  if (!internal::EngineReady() || !internal::Registry().IsLive(id)) return s;
  LockNode& n = internal::Registry().Node(id);
  s.acquisitions = n.acquisitions.load(std::memory_order_relaxed);
  s.contentions = n.contentions.load(std::memory_order_relaxed);
  s.wait_ns = n.wait_ns.load(std::memory_order_relaxed);
  s.hold_ns = n.hold_ns.load(std::memory_order_relaxed);
  s.hold_samples = n.hold_samples.load(std::memory_order_relaxed);
  s.shared_acquisitions = n.shared_acquisitions.load(std::memory_order_relaxed);
  s.shared_contentions = n.shared_contentions.load(std::memory_order_relaxed);
  for (ThreadState* t = internal::ThreadList(); t; t = t->next) {
    for (uint32_t i = 0; i < ThreadState::kIdCacheSize; ++i) {
      const IdCacheEntry& c = t->id_cache[i];
      if (c.id != id) continue;  // racy read of another thread's shard: may be slightly stale
      const LockHist& h = t->lock_hist[i];
      s.acquisitions += c.acquisitions;
      s.contentions += h.contentions;
      s.wait_ns += h.wait_ns;
      s.hold_ns += h.hold_ns;
      s.hold_samples += h.hold_samples;
      s.shared_acquisitions += h.shared_acquisitions;
      s.shared_contentions += h.shared_contentions;
    }
  }
  // Sampled holds (1 in kHoldSamplePeriod of each lock) stand for all of them: the mean sampled
  // hold times the acquisitions.
  if (s.hold_samples != 0) {
    s.hold_ns = static_cast<uint64_t>(static_cast<unsigned __int128>(s.hold_ns) * s.acquisitions /
                                      s.hold_samples);
  }
  return s;
}

LockStats StatsFor(const void* lock) { return StatsForId(IdOf(lock)); }

namespace {
uint64_t PeekId(const NodeId& id) { return stats::Peek(id); }

std::string LockKeyName(uint64_t key) {
  uintptr_t v = 0;
  switch (stats::KindOfKey(key, &v)) {
    case stats::KeyKind::kName: return reinterpret_cast<const char*>(v);
    case stats::KeyKind::kSite: return SiteName(v, "heap@");
    case stats::KeyKind::kStackSite: return SiteName(v, "stack@");
    case stats::KeyKind::kAddress: break;
  }
  std::string sym = DataSymbol(v);
  if (!sym.empty()) return sym;
  char buf[32];
  snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(v));
  return buf;
}

// Row names by key, each resolved once (then the same in every scrape): symbolizing is slow, and
// a symbolizer timeout returns "", so a name resolved again could differ and move a counter to
// another series. Cleared when the static-data table changes (a module unloaded: its addresses
// may now be another module's), bounded.
struct KeyNames {
  EngineMutex mu;
  uint64_t generation = 0;
  std::unordered_map<uint64_t, std::string> names;
};
// Made on first use by a reader (never in a fork handler: ResetAfterFork must not allocate, the
// allocator's locks may be held by a thread the fork left behind); never destroyed (read by the
// exporter during exit).
std::atomic<KeyNames*> g_key_names{nullptr};
KeyNames& TheKeyNames() {
  KeyNames* k = g_key_names.load(std::memory_order_acquire);
  if (k != nullptr) return *k;
  auto* made = new KeyNames();
  if (g_key_names.compare_exchange_strong(k, made, std::memory_order_acq_rel)) return *made;
  delete made;
  return *k;
}

std::string CachedLockKeyName(uint64_t key) {
  KeyNames& k = TheKeyNames();
  {
    EngineLock lock(k.mu);
    if (k.generation != static_data::Generation()) {
      k.names.clear();
      k.generation = static_data::Generation();
    }
    if (auto it = k.names.find(key); it != k.names.end()) return it->second;
  }
  std::string name = LockKeyName(key);  // outside the mutex: it may symbolize
  EngineLock lock(k.mu);
  if (k.names.size() < 65536) return k.names.emplace(key, std::move(name)).first->second;
  return name;
}

}  // namespace

void KeyNamesResetAfterFork() {
  if (KeyNames* k = g_key_names.load(std::memory_order_acquire)) k->mu.ResetAfterFork();
}

namespace {
std::string CondKeyName(uint64_t key) {
  uintptr_t v = 0;
  if (stats::KindOfKey(key, &v) == stats::KeyKind::kSite) return SiteName(v, "cond@");
  return LockKeyName(key);
}
}  // namespace

std::string CondNameForKey(uint64_t key) {
  EngineScope inside;
  return CondKeyName(key);
}

namespace stats {

Histogram CondWake(const void* cond) {
  Histogram h;
  if (!internal::EngineReady()) return h;
  EngineScope inside;
  const uintptr_t a = reinterpret_cast<uintptr_t>(cond);
  std::vector<std::pair<uint64_t, LockShard>> retired_locks;
  std::vector<std::pair<uint64_t, CondShardData>> retired_conds;
  EngineLock lock(RetiredMutex());
  for (ThreadState* t = internal::ThreadList(); t; t = t->next) {
    if (!t->in_use.load(std::memory_order_acquire)) continue;
    for (const CondShard& c : t->cond_shard) {
      if (Peek(c.cond) != a) continue;
      Histogram part;
      ShardRead(c.wake, &part);
      h.Add(part);
    }
  }
  ReadRetiredLocked(&retired_locks, &retired_conds);
  for (const auto& [key, d] : retired_conds) {
    if (key == KeyForAddress(a)) h.Add(d.wake);
  }
  return h;
}

Snapshot Collect() {
  Snapshot s;
  if (!internal::EngineReady()) return s;
  EngineScope inside;
  LockRegistry& registry = internal::Registry();
  std::unordered_map<uint64_t, LockShard> by_key;  // live and dead locks' shards, by stats key
  std::unordered_map<uint64_t, CondShardData> conds;
  std::vector<std::pair<uint64_t, LockShard>> retired_locks;
  std::vector<std::pair<uint64_t, CondShardData>> retired_conds;
  {
    EngineLock lock(RetiredMutex());
    // No thread moves counts between its cache entries and its pending rows meanwhile: each
    // count is read in exactly one of them (a Prometheus counter never goes down).
    internal::BeginRetiredRead();
    for (ThreadState* t = internal::ThreadList(); t; t = t->next) {
      if (!t->in_use.load(std::memory_order_acquire)) continue;  // flushed when it exited
      ++s.threads;
      if (t->wait_seq.load(std::memory_order_acquire) & 1) ++s.threads_blocked;
      for (uint32_t i = 0; i < ThreadState::kIdCacheSize; ++i) {
        const IdCacheEntry& c = t->id_cache[i];
        const LockHist& h = t->lock_hist[i];
        const NodeId id = PeekId(c.id);
        const uint64_t acquisitions = Peek(c.acquisitions);
        const uint64_t key = Peek(h.key);
        if (id == 0 || (acquisitions == 0 && Peek(h.contentions) == 0) || key == 0) continue;
        LockShard shard;
        shard.acquisitions = acquisitions;
        shard.contentions = Peek(h.contentions);
        shard.gpu_sync_ns = Peek(h.gpu_sync_ns);
        shard.churn = Peek(h.churn);
        shard.shared_acquisitions = Peek(h.shared_acquisitions);
        shard.shared_contentions = Peek(h.shared_contentions);
        shard.rwlock = registry.IsLive(id) && registry.Node(id).cls == LockClass::kRwLock;
        ShardRead(h.wait, &shard.wait);
        ShardRead(h.hold, &shard.hold);
        LockShard& to = by_key[key];
        to.acquisitions += shard.acquisitions;
        to.contentions += shard.contentions;
        to.gpu_sync_ns += shard.gpu_sync_ns;
        to.churn += shard.churn;
        to.shared_acquisitions += shard.shared_acquisitions;
        to.shared_contentions += shard.shared_contentions;
        to.rwlock = to.rwlock || shard.rwlock;
        to.wait.Add(shard.wait);
        to.hold.Add(shard.hold);
      }
      // Evicted entries' counts not yet merged into the retired table (tracker.cc).
      for (const ThreadState::RetiredPending& row : t->retired_pending) {
        const uint64_t key = Peek(row.key);
        if (key == 0) continue;
        const LockShard& p = row.shard;
        LockShard& to = by_key[key];
        to.acquisitions += Peek(p.acquisitions);
        to.contentions += Peek(p.contentions);
        to.gpu_sync_ns += Peek(p.gpu_sync_ns);
        to.churn += Peek(p.churn);
        to.shared_acquisitions += Peek(p.shared_acquisitions);
        to.shared_contentions += Peek(p.shared_contentions);
        to.rwlock = to.rwlock || std::atomic_ref<bool>(const_cast<bool&>(p.rwlock))
                                     .load(std::memory_order_relaxed);
        Histogram part;
        ShardRead(p.wait, &part);
        to.wait.Add(part);
        part = Histogram{};
        ShardRead(p.hold, &part);
        to.hold.Add(part);
      }
      for (const CondShard& c : t->cond_shard) {
        const uint64_t key = Peek(c.key);
        if (Peek(c.cond) == 0 || key == 0) continue;
        CondShardData d;
        ShardRead(c.wake, &d.wake);
        d.budget_violations = Peek(c.budget_violations);
        CondShardData& to = conds[key];
        to.wake.Add(d.wake);
        to.budget_violations += d.budget_violations;
      }
    }
    internal::EndRetiredRead();
    ReadRetiredLocked(&retired_locks, &retired_conds);
  }
  // Names are resolved outside the mutex (symbolization), then rows merged by name.
  std::map<std::string, LockRow> rows;
  auto add = [&rows](const std::string& name, const LockShard& sh) {
    LockRow& r = rows[name];
    r.acquisitions += sh.acquisitions;
    r.contentions += sh.contentions;
    r.gpu_sync_ns += sh.gpu_sync_ns;
    r.churn += sh.churn;
    r.shared_acquisitions += sh.shared_acquisitions;
    r.shared_contentions += sh.shared_contentions;
    r.rwlock = r.rwlock || sh.rwlock;
    r.wait.Add(sh.wait);
    r.hold.Add(sh.hold);
  };
  // Shards and retired rows are named the same way, by their key: a thread's exit moves its
  // counts from its shard to the retired table, never to another series.
  for (const auto& [key, sh] : by_key) add(CachedLockKeyName(key), sh);
  for (const auto& [key, sh] : retired_locks) add(CachedLockKeyName(key), sh);
  for (auto& [name, row] : rows) {
    row.name = name;
    s.locks.push_back(std::move(row));
  }
  std::map<std::string, CondRow> crows;
  auto addc = [&crows](const std::string& name, const CondShardData& d) {
    CondRow& r = crows[name];
    r.wake.Add(d.wake);
    r.budget_violations += d.budget_violations;
  };
  for (const auto& [key, d] : conds) addc(CondKeyName(key), d);
  for (const auto& [key, d] : retired_conds) addc(CondKeyName(key), d);
  for (auto& [name, row] : crows) {
    row.name = name;
    s.conds.push_back(std::move(row));
  }
  for (int k = 0; k < static_cast<int>(FindingKind::kCount); ++k) {
    s.findings.push_back(FindingCountRow{KindName(static_cast<FindingKind>(k)),
                                         FindingCount(static_cast<FindingKind>(k))});
  }
  s.graph_locks = registry.LiveCount();
  s.graph_edges = internal::LiveEdges();
  s.threads_deadlocked = wake::DeadlockedThreads();
  s.hold_sample_period = ThreadState::kHoldSamplePeriod;
  FillGlobal(&s);
  channel::Collect(&s.channels);
  return s;
}

}  // namespace stats
}  // namespace lockaudit::core
