// core/wake: the watchdog (actual deadlocks, wait and hold stalls), non-blocking contexts and
// condition-variable wake latency. See wake.h for the technique.
#include "wake.h"

#include <dlfcn.h>
#include <fnmatch.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "channel.h"
#include "engine_thread.h"
#include "hash.h"
#include "stacks.h"
#include "hot_path.h"
#include "raw_log.h"
#include "report.h"
#include "stats_shards.h"
#include "tracker.h"
#include "tracker_internal.h"

namespace lockaudit::core::wake {
namespace {

using internal::NowNs;

struct Config {
  uint64_t stall_ns = 1000000000ull;
  uint64_t shared_stall_ns = 1000000000ull;  // holds in shared (read) mode
  bool abort_on_deadlock = false;
  int64_t wake_budget_ns = -1;
  std::vector<std::string> globs;  // LOCKAUDIT_NONBLOCKING_THREADS, fixed after Init
};
Config& Cfg() {
  static Config* c = new Config();  // never destroyed: used by threads during exit
  return *c;
}

std::atomic<bool> g_watchdog_started{false};
std::atomic<bool> g_stop{false};
// Threads are started only once the host is initialised (provider.h StartBackground): never
// from inside the dynamic loader, a static initialiser or a fork handler.
std::atomic<bool> g_background_ok{false};

// ---- Condition variables ------------------------------------------------------------------
// A lock-free table keyed by the condvar's address: the last signal time, the mutex of the
// waits in progress and their number. Slots are claimed by CAS; a destroyed condvar's slot
// becomes a tombstone that a later condvar may claim. A race can leave a condvar in two slots;
// lookups use the first, so at worst its statistics are split.
struct CondSlot {
  std::atomic<uintptr_t> cond{0};  // 0: empty; kTombstone: destroyed
  std::atomic<uint64_t> signal_ns{0};
  std::atomic<uintptr_t> mutex{0};
  std::atomic<uint32_t> waiters{0};
};
constexpr size_t kCondSlots = 1u << 16;
constexpr size_t kCondProbe = 32;
constexpr uintptr_t kTombstone = 1;
std::atomic<CondSlot*> g_cond_slots{nullptr};

CondSlot* FindCond(const void* cond, bool insert) {
  CondSlot* slots = g_cond_slots.load(std::memory_order_acquire);
  if (slots == nullptr) return nullptr;
  const uintptr_t key = reinterpret_cast<uintptr_t>(cond);
  const size_t start = Mix64(key) & (kCondSlots - 1);
  for (int attempt = 0; attempt < 4; ++attempt) {
    CondSlot* free_slot = nullptr;
    for (size_t k = 0; k < kCondProbe; ++k) {
      CondSlot& s = slots[(start + k) & (kCondSlots - 1)];
      uintptr_t v = s.cond.load(std::memory_order_acquire);
      if (v == key) return &s;
      if ((v == 0 || v == kTombstone) && free_slot == nullptr) free_slot = &s;
      if (v == 0) break;  // never used beyond this point
    }
    if (!insert || free_slot == nullptr) return nullptr;
    uintptr_t expected = free_slot->cond.load(std::memory_order_relaxed);
    if ((expected == 0 || expected == kTombstone) &&
        free_slot->cond.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
      free_slot->signal_ns.store(0, std::memory_order_relaxed);
      free_slot->mutex.store(0, std::memory_order_relaxed);
      free_slot->waiters.store(0, std::memory_order_relaxed);
      return free_slot;
    }
    // Another thread claimed it (perhaps for this very condvar): look again.
  }
  return nullptr;
}

CondShard& ShardFor(ThreadState& ts, const void* cond) {
  uintptr_t a = reinterpret_cast<uintptr_t>(cond);
  return ts.cond_shard[((a >> 4) ^ (a >> 12)) & (ThreadState::kCondShards - 1)];
}

void FlushCondShard(CondShard& sh) {
  if (sh.cond == 0) return;
  if (sh.wake.sum_ns != 0 || sh.wake.counts[0] != 0 || sh.budget_violations != 0) {
    EngineLock lock(stats::RetiredMutex());
    stats::CondShardData d;
    d.wake = sh.wake;
    d.budget_violations = sh.budget_violations;
    stats::RetireCondLocked(sh.key, d);
    sh = CondShard{};
    return;
  }
  sh = CondShard{};
}

std::string CondName(const void* cond, uintptr_t site_pc) {
  uintptr_t a = reinterpret_cast<uintptr_t>(cond);
  std::string sym = DataSymbol(a);
  if (!sym.empty()) return sym;
  if (site_pc != 0) return CondNameForKey(stats::KeyForSite(site_pc, false));
  char buf[32];
  snprintf(buf, sizeof buf, "cond@0x%lx", static_cast<unsigned long>(a));
  return buf;
}

// ---- Non-blocking contexts ------------------------------------------------------------------

bool NonblockingNow(ThreadState& ts) {
  if (ts.nonblocking_depth > 0) return true;
  if (Cfg().globs.empty()) return false;
  if (NameIsNonblocking(ts.name)) return true;
  char os_name[32] = {};
  prctl(PR_GET_NAME, os_name, 0, 0, 0);  // the thread may have renamed itself since
  return NameIsNonblocking(os_name);
}

void ReportNonblocking(ThreadState& ts, const std::string& what, uint64_t dedupe_key, Site site,
                       NodeId lock_id) {
  if (!internal::FirstReport(FindingKind::kBlockingInNonblocking, dedupe_key,
                             Mix64(std::hash<std::string>{}(ts.name)))) {
    return;
  }
  Finding f;
  f.kind = FindingKind::kBlockingInNonblocking;
  if (lock_id != 0) f.locks.push_back(internal::LockOfId(lock_id));
  f.threads.push_back(internal::ThreadOfState(ts));
  f.stack = internal::CaptureStack(site.pc);
  const char* why = ts.nonblocking_depth > 0 ? "inside a nonblocking_scope"
                                              : "named in LOCKAUDIT_NONBLOCKING_THREADS";
  f.message = "thread '" + std::string(ts.name) + "' (tid " + std::to_string(ts.tid) + ", " + why +
              ") " + what + ": while it waits, nothing else runs on it (an event loop or "
              "executor thread must never block)";
  Publish(std::move(f));
}

// ---- The watchdog ---------------------------------------------------------------------------

struct HeldSnap {
  const void* addr;
  NodeId id;
  uintptr_t site_pc;
  uint64_t acquisitions;  // this thread's count for the lock: changes when it is re-taken
  bool shared;            // held in shared (read) mode
};

struct ThreadSnap {
  uint64_t incarnation = 0;
  uint32_t tid = 0;
  char name[32] = {};
  bool blocked = false;  // a consistent wait snapshot
  uint64_t seq = 0;
  const void* wait_lock = nullptr;
  NodeId wait_id = 0;
  uint64_t since_ns = 0;
  uint32_t wait_flags = 0;
  uintptr_t wait_pc = 0;
  StackId wait_stack = 0;
  // A channel wait (core/channel.h), consistent when chan_waiting.
  bool chan_waiting = false;
  uint64_t chan_seq = 0;
  const void* chan = nullptr;
  uint64_t chan_gen = 0;
  uint32_t chan_dir = 0;
  bool chan_timed = false;
  uint64_t chan_since_ns = 0;
  uintptr_t chan_pc = 0;
  StackId chan_stack = 0;
  std::vector<HeldSnap> held;
};

constexpr uint32_t kMaxHeldRead = 256;

void ReadHeld(ThreadState& ts, std::vector<HeldSnap>* out) {
  VisitHeldRacy(ts, kMaxHeldRead, [&](const HeldLock& h) {
    HeldSnap s;
    s.addr = Racy(h.addr);
    s.id = Racy(h.id);
    s.site_pc = Racy(h.site.pc);
    s.shared = (Racy(h.flags) & kShared) != 0;
    const size_t slot = CacheSlot(Racy(h.addr));
    const IdCacheEntry& c = ts.id_cache[slot];
    s.acquisitions = Racy(c.id) == s.id ? Racy(c.acquisitions) : 0;
    out->push_back(s);
    return true;
  });
}

void SnapThread(ThreadState& ts, void* arg) {
  auto* out = static_cast<std::vector<ThreadSnap>*>(arg);
  ThreadSnap s;
  s.incarnation = Racy(ts.incarnation);
  s.tid = Racy(ts.tid);
  for (size_t i = 0; i + 1 < sizeof s.name; ++i) s.name[i] = Racy(ts.name[i]);
  uint64_t seq = ts.wait_seq.load(std::memory_order_acquire);
  if (seq & 1) {
    s.wait_lock = Racy(ts.wait_lock);
    s.wait_id = Racy(ts.wait_id);
    s.since_ns = Racy(ts.wait_since_ns);
    s.wait_flags = Racy(ts.wait_flags);
    s.wait_pc = Racy(ts.wait_site.pc);
    s.wait_stack = ts.wait_stack.load(std::memory_order_acquire);
    ReadHeld(ts, &s.held);
    std::atomic_thread_fence(std::memory_order_acquire);
    s.blocked = ts.wait_seq.load(std::memory_order_relaxed) == seq;
    s.seq = seq;
  }
  if (!s.blocked) {
    s.held.clear();
    ReadHeld(ts, &s.held);
  }
  const uint64_t cseq = ts.chan_seq.load(std::memory_order_acquire);
  if (cseq & 1) {
    s.chan = Racy(ts.chan_wait);
    s.chan_gen = Racy(ts.chan_gen);
    s.chan_dir = Racy(ts.chan_dir);
    s.chan_timed = Racy(ts.chan_timed);
    s.chan_since_ns = Racy(ts.chan_since_ns);
    s.chan_pc = Racy(ts.chan_site.pc);
    s.chan_stack = ts.chan_stack.load(std::memory_order_acquire);
    std::atomic_thread_fence(std::memory_order_acquire);
    s.chan_waiting = ts.chan_seq.load(std::memory_order_relaxed) == cseq;
    s.chan_seq = cseq;
  }
  out->push_back(std::move(s));
}

struct HoldTrack {
  uint64_t first_seen_ns;
  uint64_t acquisitions;
  bool reported;
};

// Threads in the actual deadlocks of the last scan (lockaudit_threads_deadlocked): a deadlock
// stays counted for as long as its threads stay stuck.
std::atomic<uint64_t> g_deadlocked_threads{0};

struct Watchdog {
  // Blocked episodes (incarnation, seq) that were stuck in the previous scan.
  std::set<std::pair<uint64_t, uint64_t>> stuck_before;
  std::set<std::pair<uint64_t, uint64_t>> wait_stall_counted;
  std::map<std::pair<uint64_t, NodeId>, HoldTrack> holds;  // (incarnation, lock) -> since
  std::set<uint64_t> deadlocks_reported;
};

StackId SiteStack(uintptr_t pc) { return pc ? InternStack(&pc, 1) : 0; }

std::string Ms(uint64_t ns) { return std::to_string(ns / 1000000) + " ms"; }

std::string Who(const ThreadSnap& t) {
  return "'" + std::string(t.name) + "' (tid " + std::to_string(t.tid) + ")";
}

// The channel waits of one scan (core/channel.h): which threads wait on a channel (and on no
// lock), the channels' states, and the threads by incarnation (a channel's peers).
struct ChannelWaits {
  std::vector<bool> waiting;  // by snapshot index
  std::unordered_map<const void*, channel::View> views;
  std::unordered_map<uint64_t, int> by_incarnation;
};

uint64_t SinceOf(const ThreadSnap& t, bool chan) { return chan ? t.chan_since_ns : t.since_ns; }
bool StackPublished(const ThreadSnap& t, bool chan) {
  return chan ? t.chan_stack != 0 : t.wait_stack != 0;
}
StackId WaitStackOf(const ThreadSnap& t, bool chan) {
  if (chan) return t.chan_stack ? t.chan_stack : SiteStack(t.chan_pc);
  return t.wait_stack ? t.wait_stack : SiteStack(t.wait_pc);
}
// One blocked episode: a lock wait is (incarnation, wait_seq), a channel wait the same with the
// top bit set on its chan_seq.
std::pair<uint64_t, uint64_t> EpisodeOf(const ThreadSnap& t, bool chan) {
  return {t.incarnation, chan ? (t.chan_seq | (1ull << 63)) : t.seq};
}
const char* ChannelVerb(uint32_t dir) { return dir == channel::kSend ? "to send on" : "to receive from"; }

void ReportDeadlock(Watchdog& w, const std::vector<ThreadSnap>& snaps, const ChannelWaits& cw,
                    const std::vector<int>& cycle) {
  std::vector<std::pair<uint64_t, uint64_t>> episode;
  episode.reserve(cycle.size());
  for (int i : cycle) episode.push_back(EpisodeOf(snaps[i], cw.waiting[i]));
  std::sort(episode.begin(), episode.end());
  uint64_t key = 0x9e3779b97f4a7c15ULL;
  for (const auto& [inc, seq] : episode) key = Mix64(key ^ Mix64(inc * 31 + seq));
  if (!w.deadlocks_reported.insert(key).second || g_stop.load()) return;
  Finding f;
  f.kind = FindingKind::kDeadlock;
  std::string story;
  std::set<NodeId> seen_locks;
  std::set<const void*> seen_channels;
  const uint64_t now = NowNs();
  for (size_t k = 0; k < cycle.size(); ++k) {
    const int ti = cycle[k];
    const ThreadSnap& t = snaps[ti];
    const bool t_chan = cw.waiting[ti];
    // cycle[k] waits for cycle[k+1] (a lock it holds, or a channel it is a peer of); so
    // cycle[k-1] waits for t.
    const int wi = cycle[(k + cycle.size() - 1) % cycle.size()];
    const ThreadSnap& waiter = snaps[wi];
    const bool w_chan = cw.waiting[wi];
    const HeldSnap* held = nullptr;
    if (!w_chan) {
      for (const HeldSnap& h : t.held) {
        if (h.addr == waiter.wait_lock) held = &h;
      }
    }
    f.threads.push_back(ReportThread{t.tid, t.name});
    if (!story.empty()) story += "; ";
    story += Who(t);
    if (w_chan) {
      auto it = cw.views.find(waiter.chan);
      story += std::string(", which ") +
               (waiter.chan_dir == channel::kSend ? "receives from" : "sends on") + " channel '" +
               (it != cw.views.end() ? it->second.name : std::string("?")) + "',";
    } else {
      story += " holds '" + (held ? internal::LockOfId(held->id).name : std::string("?")) + "' and";
    }
    story += " has waited " + Ms(now - SinceOf(t, t_chan));
    if (t_chan) {
      auto it = cw.views.find(t.chan);
      story += std::string(" ") + ChannelVerb(t.chan_dir) + " channel " +
               (it != cw.views.end() ? channel::StateText(it->second) : std::string("'?'"));
      if (it != cw.views.end() && seen_channels.insert(t.chan).second) {
        f.channels.push_back(channel::ToReport(it->second));
      }
      if (f.stack == 0) f.stack = WaitStackOf(t, true);  // where the first channel wait is
      continue;
    }
    ReportEdge e;
    e.from = held ? held->id : 0;
    e.to = t.wait_id;
    e.thread = ReportThread{t.tid, t.name};
    e.stack = WaitStackOf(t, false);
    e.held_stack = held ? SiteStack(held->site_pc) : 0;
    if (e.from != 0) f.edges.push_back(e);
    if (seen_locks.insert(t.wait_id).second) f.locks.push_back(internal::LockOfId(t.wait_id));
    story += " for '" + internal::LockOfId(t.wait_id).name + "'";
    // A read request waiting on a lock held only for reading: it is queued behind a writer
    // (a writer-preferring rwlock), and that writer is what closes the deadlock.
    const int hi = cycle[(k + 1) % cycle.size()];
    const ThreadSnap& holder = snaps[hi];
    bool held_for_reading = false;
    for (const HeldSnap& h : holder.held) held_for_reading |= h.addr == t.wait_lock && h.shared;
    if ((t.wait_flags & kShared) && held_for_reading) {
      for (const ThreadSnap& o : snaps) {
        if (!o.blocked || o.wait_lock != t.wait_lock || (o.wait_flags & kShared)) continue;
        story += " to read it, queued behind the writer " + Who(o) + ", which has waited " +
                 Ms(now - o.since_ns) + " to write it while readers hold it";
        f.threads.push_back(ReportThread{o.tid, o.name});
        break;
      }
    }
  }
  f.single_thread = cycle.size() == 1;
  f.message = (cycle.size() == 1 ? std::string(cw.waiting[cycle[0]]
                                                   ? "a thread waits for itself: "
                                                   : "a thread waits for a lock it holds itself: ")
                                 : std::to_string(cycle.size()) + " threads wait for each other: ") +
              story;
  Publish(std::move(f));  // each edge carries where its thread blocked
  if (Cfg().abort_on_deadlock) {
    RawLog("lockaudit: LOCKAUDIT_ON_DEADLOCK=abort: aborting the deadlocked program\n");
    DrainSymbolizerThread(2'000'000'000);  // the edge lines still queued reach the report first
    abort();
  }
}

// The other side of a channel wait, for channel_stall: who could end it and what they do.
std::string PeersText(const std::vector<ThreadSnap>& snaps, const ChannelWaits& cw,
                      const channel::View& v, uint32_t dir) {
  const uint32_t other = dir == channel::kSend ? channel::kRecv : channel::kSend;
  const char* role = other == channel::kRecv ? "receive from" : "send on";
  if (v.many[other]) {
    return "more than " + std::to_string(channel::kMaxPeers) + " threads have " +
           (other == channel::kRecv ? "received from" : "sent on") + " it";
  }
  std::string alive;
  uint32_t known = 0, live = 0;
  for (uint64_t p : v.peers[other]) {
    if (p == 0) continue;
    ++known;
    auto it = cw.by_incarnation.find(p);
    if (it == cw.by_incarnation.end()) continue;
    ++live;
    const ThreadSnap& o = snaps[it->second];
    if (!alive.empty()) alive += ", ";
    alive += Who(o);
    if (o.blocked) {
      alive += " waits for the lock '" + internal::LockOfId(o.wait_id).name + "'";
    } else if (cw.waiting[it->second]) {
      auto vit = cw.views.find(o.chan);
      alive += std::string(" waits ") + ChannelVerb(o.chan_dir) + " channel '" +
               (vit != cw.views.end() ? vit->second.name : std::string("?")) + "'";
    } else {
      alive += " is running";
    }
  }
  if (known == 0) return std::string("no thread has ever tried to ") + role + " it";
  if (live == 0) {
    return "the " + std::to_string(known) + (known == 1 ? " thread that tried to " : " threads that tried to ") +
           role + " it " + (known == 1 ? "has" : "have all") + " exited";
  }
  return std::string("the threads that ") + role + " it: " + alive;
}

void Scan(Watchdog& w) {
  std::vector<ThreadSnap> snaps;
  snaps.reserve(64);
  internal::VisitThreads(SnapThread, &snaps);
  const uint64_t now = NowNs();
  const uint64_t stall = Cfg().stall_ns;
  const int n = static_cast<int>(snaps.size());

  // Holders of every held address.
  std::unordered_map<const void*, std::vector<int>> holders_of;
  for (int i = 0; i < n; ++i) {
    for (const HeldSnap& h : snaps[i].held) holders_of[h.addr].push_back(i);
  }
  std::vector<std::vector<int>> holders(n);
  for (int i = 0; i < n; ++i) {
    if (!snaps[i].blocked) continue;
    auto it = holders_of.find(snaps[i].wait_lock);
    if (it != holders_of.end()) holders[i] = it->second;
  }
  // Channel waits: the threads that could end one are the live peers of the other side
  // (core/channel.h). A lock wait of the same thread takes precedence (it is where it blocks).
  ChannelWaits cw;
  cw.waiting.assign(n, false);
  for (int i = 0; i < n; ++i) cw.by_incarnation[snaps[i].incarnation] = i;
  for (int i = 0; i < n; ++i) {
    const ThreadSnap& t = snaps[i];
    if (t.blocked || !t.chan_waiting) continue;
    auto vit = cw.views.find(t.chan);
    if (vit != cw.views.end() && vit->second.generation != t.chan_gen) continue;  // record reused
    if (vit == cw.views.end()) {
      channel::View v;
      if (!channel::Peek(t.chan, t.chan_gen, &v)) continue;
      vit = cw.views.emplace(t.chan, std::move(v)).first;
    }
    const channel::View& v = vit->second;
    const bool still = t.chan_dir == channel::kSend
                           ? !v.closed && v.capacity != 0 && v.depth >= static_cast<int64_t>(v.capacity)
                           : !v.closed && v.depth <= 0;
    if (!still) continue;  // woken, not yet returned
    cw.waiting[i] = true;
    const uint32_t other = t.chan_dir == channel::kSend ? channel::kRecv : channel::kSend;
    if (t.chan_timed || v.many[other]) continue;  // never part of a deadlock
    for (uint64_t p : v.peers[other]) {
      auto it = p != 0 ? cw.by_incarnation.find(p) : cw.by_incarnation.end();
      if (it != cw.by_incarnation.end()) holders[i].push_back(it->second);
    }
  }

  // Stuck: blocked on a lock all of whose holders are stuck, or on a channel all of whose live
  // peers on the other side are (fixed point).
  std::vector<bool> stuck(n, false);
  for (int i = 0; i < n; ++i) stuck[i] = (snaps[i].blocked || cw.waiting[i]) && !holders[i].empty();
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < n; ++i) {
      if (!stuck[i]) continue;
      for (int j : holders[i]) {
        if (!stuck[j]) {
          stuck[i] = false;
          changed = true;
          break;
        }
      }
    }
  }
  std::set<std::pair<uint64_t, uint64_t>> stuck_now;
  for (int i = 0; i < n; ++i) {
    if (stuck[i]) stuck_now.insert(EpisodeOf(snaps[i], cw.waiting[i]));
  }

  // Cycles among stuck threads: follow the first holder until a thread repeats.
  std::vector<bool> in_cycle(n, false);
  uint64_t deadlocked = 0;
  for (int start = 0; start < n; ++start) {
    if (!stuck[start] || in_cycle[start]) continue;
    std::vector<int> path;
    std::vector<int> pos(n, -1);
    int cur = start;
    while (cur >= 0 && pos[cur] < 0 && !in_cycle[cur]) {
      pos[cur] = static_cast<int>(path.size());
      path.push_back(cur);
      cur = holders[cur].empty() ? -1 : holders[cur][0];
    }
    if (cur < 0 || pos[cur] < 0) continue;
    std::vector<int> cycle(path.begin() + pos[cur], path.end());
    bool ready = true;
    for (int i : cycle) {
      const ThreadSnap& t = snaps[i];
      const bool chan = cw.waiting[i];
      const uint64_t since = SinceOf(t, chan);
      // Stable for two scans, past the threshold, and its stack published (or long overdue).
      ready = ready && w.stuck_before.count(EpisodeOf(t, chan)) && now - since >= stall &&
              (StackPublished(t, chan) || now - since >= 2 * stall);
    }
    for (int i : cycle) in_cycle[i] = true;
    if (ready) {
      deadlocked += cycle.size();
      ReportDeadlock(w, snaps, cw, cycle);
    }
  }
  g_deadlocked_threads.store(deadlocked, std::memory_order_relaxed);
  w.stuck_before = std::move(stuck_now);

  // Channel stalls: waiting on a channel past the threshold, not part of a deadlock.
  for (int i = 0; i < n; ++i) {
    const ThreadSnap& t = snaps[i];
    if (!cw.waiting[i] || stuck[i] || now - t.chan_since_ns < stall) continue;
    if (!w.wait_stall_counted.insert(EpisodeOf(t, true)).second || g_stop.load()) continue;
    const channel::View& v = cw.views.at(t.chan);
    channel::ReportStall(v, t.chan, static_cast<channel::Dir>(t.chan_dir), t.tid, t.name,
                         now - t.chan_since_ns, stall, WaitStackOf(t, true),
                         PeersText(snaps, cw, v, t.chan_dir));
  }

  // Wait stalls: blocked past the threshold, not part of a deadlock.
  for (int i = 0; i < n; ++i) {
    const ThreadSnap& t = snaps[i];
    if (!t.blocked || stuck[i] || now - t.since_ns < stall) continue;
    if (!w.wait_stall_counted.insert({t.incarnation, t.seq}).second) continue;
    stats::CountStall(false);
    if (g_stop.load() || !internal::FirstReport(FindingKind::kWaitStall, t.wait_id, 0)) continue;
    Finding f;
    f.kind = FindingKind::kWaitStall;
    f.locks.push_back(internal::LockOfId(t.wait_id));
    f.threads.push_back(ReportThread{t.tid, t.name});
    std::string held_by = "a thread lockaudit does not see";
    for (int j : holders[i]) {
      f.threads.push_back(ReportThread{snaps[j].tid, snaps[j].name});
      auto it = w.holds.find({snaps[j].incarnation, t.wait_id});
      held_by = Who(snaps[j]) +
                (it != w.holds.end() ? ", which has held it for at least " + Ms(now - it->second.first_seen_ns)
                                     : std::string());
      break;
    }
    f.message = "thread " + Who(t) + " has waited " + Ms(now - t.since_ns) + " (threshold " +
                Ms(stall) + ") for '" + f.locks[0].name + "', held by " + held_by;
    f.stack = t.wait_stack ? t.wait_stack : SiteStack(t.wait_pc);
    Publish(std::move(f));
  }
  if (w.wait_stall_counted.size() > 4096) w.wait_stall_counted.clear();

  // Hold stalls: a lock seen continuously held (same per-thread acquisition count) past the
  // threshold, by a thread that is not itself blocked (its wait is reported instead).
  std::map<std::pair<uint64_t, NodeId>, HoldTrack> holds;
  for (int i = 0; i < n; ++i) {
    const ThreadSnap& t = snaps[i];
    for (const HeldSnap& h : t.held) {
      if (h.id == 0) continue;
      auto key = std::make_pair(t.incarnation, h.id);
      auto it = w.holds.find(key);
      HoldTrack track{now, h.acquisitions, false};
      if (it != w.holds.end() && it->second.acquisitions == h.acquisitions) track = it->second;
      const uint64_t threshold = h.shared ? Cfg().shared_stall_ns : stall;
      if (!track.reported && !t.blocked && !cw.waiting[i] && now - track.first_seen_ns >= threshold) {
        track.reported = true;
        stats::CountStall(true);
        if (!g_stop.load() && internal::FirstReport(FindingKind::kHoldStall, h.id, 0)) {
          Finding f;
          f.kind = FindingKind::kHoldStall;
          f.locks.push_back(internal::LockOfId(h.id));
          f.threads.push_back(ReportThread{t.tid, t.name});
          // A read hold keeps out writers only: other readers go on.
          f.message = "'" + f.locks[0].name + "' has been held " +
                      (h.shared ? "shared (for reading) " : "") + "by thread " + Who(t) +
                      " for at least " + Ms(now - track.first_seen_ns) + " (threshold " +
                      Ms(threshold) +
                      (h.shared ? ", LOCKAUDIT_SHARED_STALL_MS); every writer that wants it "
                                  "waits as long (readers do not)"
                                : "); every thread that wants it waits as long");
          f.stack = SiteStack(h.site_pc);
          Publish(std::move(f));
        }
      }
      holds[key] = track;
    }
  }
  w.holds = std::move(holds);
}

void* WatchdogMain(void*) {
  EngineScope scope;  // engine-owned for its whole life: never audited
  RegisterEngineTask();
  prctl(PR_SET_NAME, "lockaudit-watch", 0, 0, 0);
  Watchdog* w = new Watchdog();
  const uint64_t period_ns = std::clamp<uint64_t>(
      std::min(Cfg().stall_ns, Cfg().shared_stall_ns) / 4, 5000000ull, 250000000ull);
  while (!g_stop.load(std::memory_order_acquire)) {
    timespec d{static_cast<time_t>(period_ns / 1000000000ull),
               static_cast<long>(period_ns % 1000000000ull)};
    nanosleep(&d, nullptr);
    if (g_stop.load(std::memory_order_acquire) || internal::EngineFinished()) break;
    // main() called pthread_exit() and every program thread has ended since: the process ends
    // now, as it would without lockaudit's threads (exit(0), as glibc does for the last thread).
    if (OnlyEngineThreadsLeft()) exit(0);
    Scan(*w);
  }
  return nullptr;
}

}  // namespace

// ---- Public (engine-internal) API -------------------------------------------------------------

void Init(const Options& opts) {
  Config& c = Cfg();
  if (opts.stall_ms > 0) c.stall_ns = static_cast<uint64_t>(opts.stall_ms) * 1000000ull;
  c.shared_stall_ns = opts.shared_stall_ms > 0
                          ? static_cast<uint64_t>(opts.shared_stall_ms) * 1000000ull
                          : c.stall_ns;
  c.abort_on_deadlock = opts.on_deadlock_abort;
  c.wake_budget_ns = opts.wake_budget_ms >= 0 ? opts.wake_budget_ms * 1000000ll : -1;
  std::string list = opts.nonblocking_threads;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string glob = list.substr(pos, comma - pos);
    glob.erase(0, glob.find_first_not_of(" \t"));
    glob.erase(glob.find_last_not_of(" \t") + 1);
    if (!glob.empty()) c.globs.push_back(glob);
    pos = comma + 1;
  }
  void* mem = mmap(nullptr, kCondSlots * sizeof(CondSlot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem != MAP_FAILED) g_cond_slots.store(static_cast<CondSlot*>(mem), std::memory_order_release);
}

uint64_t DeadlockedThreads() { return g_deadlocked_threads.load(std::memory_order_relaxed); }

void AllowBackground() { g_background_ok.store(true, std::memory_order_release); }

void EnsureWatchdog() {
  if (LOCKAUDIT_PREDICT_TRUE(g_watchdog_started.load(std::memory_order_relaxed))) return;
  if (!g_background_ok.load(std::memory_order_acquire)) return;
  if (g_watchdog_started.exchange(true)) return;
  EngineScope scope;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 8u << 20);  // reports symbolize: libdw needs deep stacks
  pthread_t thread;
  if (CreateWithSignalsBlocked(pthread_create, &thread, &attr, WatchdogMain, nullptr) != 0) {
    RawLog("lockaudit: warning: cannot start the watchdog thread; actual deadlocks and stalls "
           "are not reported\n");
  }
  pthread_attr_destroy(&attr);
}

void ForkChild() { g_watchdog_started.store(false); }

void Stop() { g_stop.store(true, std::memory_order_release); }

bool NameIsNonblocking(const char* name) {
  if (name == nullptr) return false;
  for (const std::string& g : Cfg().globs) {
    if (fnmatch(g.c_str(), name, 0) == 0) return true;
  }
  return false;
}

uint64_t FirstCheckDelayNs() { return std::max<uint64_t>(Cfg().stall_ns / 2, 1000000ull); }

void BlockBegin(ThreadState& ts, NodeId id, const void* lock, uint32_t flags, Site site,
                uint64_t now_ns) {
  if (LOCKAUDIT_PREDICT_FALSE(NonblockingNow(ts))) {
    EngineScope scope;
    ReportNonblocking(ts, "blocks on the contended lock '" + internal::LockOfId(id).name + "'",
                      id, site, id);
  }
  ts.wait_lock = lock;
  ts.wait_id = id;
  ts.wait_since_ns = now_ns;
  ts.wait_flags = flags;
  ts.wait_site = site;
  ts.wait_stack.store(0, std::memory_order_relaxed);
  uint64_t seq = ts.wait_seq.load(std::memory_order_relaxed);
  ts.wait_seq.store(seq | 1, std::memory_order_release);  // odd: blocked
  EnsureWatchdog();
}

void BlockEnd(ThreadState& ts) {
  uint64_t seq = ts.wait_seq.load(std::memory_order_relaxed);
  if (seq & 1) ts.wait_seq.store(seq + 1, std::memory_order_release);
}

void StillBlocked(ThreadState& ts) {
  if (!(ts.wait_seq.load(std::memory_order_relaxed) & 1)) return;
  EngineScope scope;
  ts.wait_stack.store(internal::CaptureStack(ts.wait_site.pc), std::memory_order_release);
}

void CondWaitBegin(ThreadState& ts, const void* cond, const void* mutex, Site site) {
  EngineScope scope;
  if (LOCKAUDIT_PREDICT_FALSE(NonblockingNow(ts))) {
    ReportNonblocking(ts, "waits on the condition variable '" + CondName(cond, site.pc) + "'",
                      reinterpret_cast<uintptr_t>(cond), site, 0);
  }
  CondShard& sh = ShardFor(ts, cond);
  if (sh.cond != reinterpret_cast<uintptr_t>(cond)) {
    FlushCondShard(sh);
    uintptr_t a = reinterpret_cast<uintptr_t>(cond);
    sh.key = DataSymbol(a).empty() ? stats::KeyForSite(site.pc, false) : stats::KeyForAddress(a);
    std::atomic_ref<uintptr_t>(sh.cond).store(a, std::memory_order_release);
  }
  if (CondSlot* s = FindCond(cond, true)) {
    uint32_t others = s->waiters.fetch_add(1, std::memory_order_acq_rel);
    uintptr_t before = s->mutex.exchange(reinterpret_cast<uintptr_t>(mutex));
    if (others > 0 && before != 0 && before != reinterpret_cast<uintptr_t>(mutex) &&
        internal::FirstReport(FindingKind::kCondMutexMismatch, reinterpret_cast<uintptr_t>(cond), 0)) {
      Finding f;
      f.kind = FindingKind::kCondMutexMismatch;
      NodeId a = IdOf(reinterpret_cast<const void*>(before)), b = IdOf(mutex);
      if (a) f.locks.push_back(internal::LockOfId(a));
      if (b) f.locks.push_back(internal::LockOfId(b));
      f.threads.push_back(internal::ThreadOfState(ts));
      f.stack = internal::CaptureStack(site.pc);
      f.message = "condition variable '" + CondName(cond, site.pc) + "' waited on with mutex '" +
                  (b ? internal::LockOfId(b).name : std::string("?")) +
                  "' while another thread waits on it with mutex '" +
                  (a ? internal::LockOfId(a).name : std::string("?")) +
                  "' (undefined behaviour: a waiter can miss its wake-up)";
      Publish(std::move(f));
    }
  }
  ts.waiting_cond = cond;
  ts.cond_wait_begin_ns = NowNs();
  EnsureWatchdog();
}

void CondWaitEnd(ThreadState& ts, const void* cond) {
  if (ts.waiting_cond != cond) return;
  ts.waiting_cond = nullptr;
  const uint64_t now = NowNs();
  CondSlot* s = FindCond(cond, false);
  if (s == nullptr) return;
  s->waiters.fetch_sub(1, std::memory_order_acq_rel);
  const uint64_t signalled = s->signal_ns.load(std::memory_order_acquire);
  if (signalled < ts.cond_wait_begin_ns || signalled > now) return;  // timed out or spurious
  const uint64_t latency = now - signalled;
  CondShard& sh = ShardFor(ts, cond);
  if (sh.cond != reinterpret_cast<uintptr_t>(cond)) return;
  stats::ShardObserve(sh.wake, latency);
  const int64_t budget = Cfg().wake_budget_ns;
  if (budget >= 0 && latency > static_cast<uint64_t>(budget)) {
    stats::Bump(sh.budget_violations, 1);
    EngineScope scope;
    if (internal::FirstReport(FindingKind::kWakeBudget, reinterpret_cast<uintptr_t>(cond), 0)) {
      Finding f;
      f.kind = FindingKind::kWakeBudget;
      f.threads.push_back(internal::ThreadOfState(ts));
      f.stack = internal::CaptureStack(0);
      f.message = "a waiter on condition variable '" + CondName(cond, 0) + "' ran " +
                  std::to_string(latency / 1000) + " us after the signal (LOCKAUDIT_WAKE_BUDGET_MS=" +
                  std::to_string(budget / 1000000) + "); later violations are counted in "
                  "lockaudit_cond_wake_latency_seconds";
      Publish(std::move(f));
    }
  }
}

void CondSignal(const void* cond) {
  CondSlot* s = FindCond(cond, false);
  if (s == nullptr || s->waiters.load(std::memory_order_relaxed) == 0) return;  // nobody to wake
  s->signal_ns.store(NowNs(), std::memory_order_release);
}

void CondDestroy(const void* cond) {
  if (CondSlot* s = FindCond(cond, false)) s->cond.store(kTombstone, std::memory_order_release);
}

// A thread-pool runtime's own scheduler waits on futexes while its workers look for work (oneTBB
// inside the arena a tbb_observer marks, OpenMP runtimes): that is the pool idling, not a task
// blocking. Futex waits made from these libraries' own code are not findings.
bool FromPoolRuntime(uintptr_t pc) {
  Dl_info info;
  if (pc == 0 || dladdr(reinterpret_cast<void*>(pc), &info) == 0 || info.dli_fname == nullptr) {
    return false;
  }
  const char* base = strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  return strncmp(base, "libtbb", 6) == 0 || strncmp(base, "libgomp", 7) == 0 ||
         strncmp(base, "libiomp", 7) == 0 || strncmp(base, "libomp", 6) == 0;
}

void FutexWait(ThreadState& ts, const void* addr, Site site) {
  if (LOCKAUDIT_PREDICT_TRUE(!NonblockingNow(ts))) return;
  EngineScope scope;
  if (FromPoolRuntime(site.pc)) return;
  ReportNonblocking(ts,
                    "waits on a futex (std::future::get/wait, std::atomic::wait, a semaphore, "
                    "latch or barrier)",
                    reinterpret_cast<uintptr_t>(addr), site, 0);
}

void FlushThread(ThreadState& ts) {
  for (CondShard& sh : ts.cond_shard) FlushCondShard(sh);
}

}  // namespace lockaudit::core::wake
