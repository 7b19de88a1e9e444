// The engine behind core/provider. Layout of this file: engine state and bootstrap; thread
// states; the hot path (OnAcquired/OnReleased and their inline helpers); the slow paths
// (LOCKAUDIT_COLD: evidence for the lock-order detector and the findings it returns); lock
// lifetime; fork; queries. The parts it feeds have their own files (docs/internals.md, "The
// parts of core"): lock_order (the detector), lock_names, misuse, stats_collect, wake.
#include "tracker.h"

#include <pthread.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config_file.h"
#include "confirm.h"
#include "channel.h"
#include "churn.h"
#include "contention_profile.h"
#include "false_sharing.h"
#include "engine_arena.h"
#include "engine_mutex.h"
#include "edge_table.h"
#include "engine_thread.h"
#include "hot_path.h"
#include "known_edges.h"
#include "lineage.h"
#include "lock_names.h"
#include "lock_order.h"
#include "misuse.h"
#include "options.h"
#include "provider.h"
#include "raw_log.h"
#include "report.h"
#include "stacks.h"
#include "stats.h"
#include "stats_internal.h"
#include "static_data.h"
#include "stats_report.h"
#include "stats_shards.h"
#include "thread_state.h"
#include "tracker_internal.h"
#include "wake.h"

namespace lockaudit::core {

namespace internal {
__thread ThreadState* tls_state __attribute__((tls_model("initial-exec"))) = nullptr;
}  // namespace internal

namespace {

// ---- Engine state ------------------------------------------------------------------------

enum class EngineStatus : int { kUninit = 0, kInitializing = 1, kReady = 2, kDisabled = 3 };

// The lock-order detector's host (core/lock_order.h): the registry, the evidence cache and
// core/lineage, for the detector's questions. Defined with the slow paths below.
class EngineLockOrderHost final : public LockOrderHost {
 public:
  bool IsLive(NodeId id) override;
  void MarkInGraph(NodeId id) override;
  NodeId IdAt(uint32_t index) override;
  uint64_t NamingKey(NodeId id) override;
  bool WantsEdgeLines() override;
  bool CaptureEvidence(const Acquisition& a, const uint32_t* window, uint32_t count,
                       StackId* stack, StackId* held_stacks, bool lookup_only) override;
  std::string OrderedReason(uint32_t x, const std::string& x_name, uint32_t y,
                            const std::string& y_name) override;
};

struct Engine {
  Options opts;
  LockRegistry registry;
  LockNames names{registry};
  EngineLockOrderHost lock_order_host;
  LockOrder lock_order{lock_order_host};  // its mutex: before lineage's (OrderedReason)
  KnownEdges contexts;   // second level of the threads' context caches
  std::atomic<uint64_t> next_incarnation{1};
  // Reports' dedupe (leaf): findings reported once per (kind, ids), and the edge lines written,
  // by pair of names, with the evidence they said (modes and gate names): a line is written
  // again only when that changes.
  EngineMutex dedupe_mu;
  std::set<std::pair<int, std::pair<NodeId, NodeId>>> reported_once LOCKAUDIT_GUARDED_BY(dedupe_mu);
  std::map<std::pair<std::string, std::string>, std::string> published_edges
      LOCKAUDIT_GUARDED_BY(dedupe_mu);
  // Evidence reuse: the stacks captured for a call site at a given stack depth (pc, cfa), so
  // that code creating many short-lived locks (each new, each a new edge) is not unwound every
  // time. Bounded; cleared when full.
  EngineMutex evidence_mu;  // leaf
  std::unordered_map<uint64_t, StackId> evidence LOCKAUDIT_GUARDED_BY(evidence_mu);
  EngineMutex threads_mu;
  std::atomic<ThreadState*> threads{nullptr};
  pthread_key_t key{};
  std::atomic<bool> finished{false};
};

alignas(Engine) char g_engine_storage[sizeof(Engine)];
std::atomic<int> g_status{static_cast<int>(EngineStatus::kUninit)};
Engine& E() { return *reinterpret_cast<Engine*>(g_engine_storage); }

// TLS: `tls_state` is the one load of the hot path. tls_mode says why it is null.
enum TlsMode : uint8_t { kFresh = 0, kActive = 1, kInside = 2, kGone = 3 };
using internal::tls_state;
__thread uint8_t tls_mode __attribute__((tls_model("initial-exec"))) = kFresh;

// The hot path's helpers are inlined into the provider entry points (which LTO inlines into
// the interposers and wrapper entries); their rare branches call LOCKAUDIT_COLD functions.
#define LOCKAUDIT_HOT inline __attribute__((always_inline))

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint32_t GetTid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

void WarnLine(const char* line) { RawWrite(line); }

void AtExit() {
  int code = Finish();
  if (code >= 0) {
    fflush(nullptr);
    _exit(code);
  }
}

void ThreadKeyDestructor(void*) { OnThreadExit(); }

void ForgetNode(NodeId id, void*);  // below, with the lock-lifetime events

// ---- Thread states -----------------------------------------------------------------------

LOCKAUDIT_COLD ThreadState* NewThreadState() {
  Engine& e = E();
  ThreadState* ts = nullptr;
  bool recycled = false;
  {
    EngineLock lock(e.threads_mu);
    for (ThreadState* t = e.threads.load(std::memory_order_acquire); t; t = t->next) {
      bool expected = false;
      if (t->in_use.compare_exchange_strong(expected, true)) {
        ts = t;
        recycled = true;
        break;
      }
    }
    if (ts == nullptr) {
      void* mem = mmap(nullptr, sizeof(ThreadState), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mem == MAP_FAILED) return nullptr;
      ts = new (mem) ThreadState;  // default-init: the zero pages of the mapping stay untouched
      ts->held = nullptr;
      ts->in_use.store(true);
      ts->next = e.threads.load(std::memory_order_relaxed);
      e.threads.store(ts, std::memory_order_release);
    }
    // Under threads_mu: the watchdog reads held buffers of in-use states (VisitThreads).
    if (ts->held != nullptr && ts->held != ts->inline_held) {
      munmap(ts->held, ts->held_capacity * sizeof(HeldLock));
    }
    for (uint32_t i = 0; i < ts->spare_held_count; ++i) {
      munmap(ts->spare_held[i], ts->spare_held_cap[i] * sizeof(HeldLock));
    }
    ts->spare_held_count = 0;
    ts->wait_seq.store(0, std::memory_order_relaxed);
    ts->wait_lock = nullptr;
    ts->wait_stack.store(0, std::memory_order_relaxed);
    ts->chan_seq.store(0, std::memory_order_relaxed);
    ts->chan_wait = nullptr;
    ts->chan_stack.store(0, std::memory_order_relaxed);
    ts->chan_peer_cache[0] = ts->chan_peer_cache[1] = nullptr;
    ts->nonblocking_depth = 0;
    ts->profile_tick = 0;
    ts->profile_stack = 0;
    ts->profile_holder = 0;
    for (uintptr_t& pc : ts->holder_site_pc) pc = 0;
    for (ThreadState::WaitStack& w : ts->wait_stacks) w.stack = 0;
    for (ThreadState::WaitSum& w : ts->wait_sums) w = ThreadState::WaitSum{};
    for (ThreadState::WaitSum& w : ts->holder_sums) w = ThreadState::WaitSum{};
    ts->waiting_cond = nullptr;
    ts->held = ts->inline_held;
    ts->held_capacity = ThreadState::kInlineHeld;
    ts->held_count = 0;
  }
  ts->tid = GetTid();
  ts->incarnation = e.next_incarnation.fetch_add(1, std::memory_order_relaxed);
  ts->pthread_id = static_cast<uintptr_t>(pthread_self());
  ts->stack_lo = ts->stack_hi = 0;
  // Never pthread_getattr_np here: it mallocs, and this thread may be inside its allocator's
  // own lock (jemalloc) or in a signal handler (core/engine_thread.h).
  ThreadStackBounds(&ts->stack_lo, &ts->stack_hi);
  ts->waiting_cond_mutex = nullptr;
  memset(ts->name, 0, sizeof ts->name);
  prctl(PR_GET_NAME, ts->name, 0, 0, 0);
  if (recycled) {  // a fresh mapping is already zero: its cache pages stay untouched until used
    for (IdCacheEntry& c : ts->id_cache) c = IdCacheEntry{};  // flushed when the last owner exited
    // Merged when the last owner exited (left over only from threads a fork() left behind).
    for (ThreadState::RetiredPending& row : ts->retired_pending) row = ThreadState::RetiredPending{};
    ts->retired_pending_used = 0;
    ts->retire_busy.store(0, std::memory_order_relaxed);
    ts->claim_note.store(0, std::memory_order_relaxed);
    ts->reclaim.count = 0;  // reclaimed at exit (a fork() leaves a dead thread's few behind)
    memset(ts->edge_cache, 0, sizeof ts->edge_cache);
  }
  return ts;
}

// ---- Retiring a cache entry's statistics ---------------------------------------------------
// An evicted entry's counts move to its lock's node (if alive), the thread's totals, and the
// row of its stats key: first into the thread's pending rows (ThreadState::retired_pending),
// without an engine mutex, then into the engine's retired table (stats_shards.h) under
// RetiredMutex, kRetiredPendingMax keys at a time and when the thread exits. stats::Collect()
// sums a thread's cache entries and pending rows under RetiredMutex, so no move may be half
// done while it reads: an asymmetric handshake, as for the cancel scopes below. The owner raises
// retire_busy (a plain store and a compiler barrier) and then reads g_retire_readers; Collect
// raises g_retire_readers, makes every thread of the process execute a full barrier
// (membarrier(2), BeginRetiredRead) and waits for each thread's retire_busy to be 0: either it
// sees the owner's flag raised and waits for the move to end, or the owner sees the reader and
// moves under RetiredMutex instead (which Collect holds). Without membarrier (no shim, or an
// old kernel) every move takes RetiredMutex. A program that creates, locks and frees one lock
// after another (heap locks of one site: one key) and a program cycling through more locks than
// the cache holds (memcached's 4,096 item locks) evict on most fills: this keeps the global
// mutex, and its cache line, out of that path.
std::atomic<uint32_t> g_retire_readers{0};
std::atomic<bool> g_light_retire{false};  // membarrier registered: moves may skip RetiredMutex

// The pending row of `key` (made, empty, if new); nullptr when kRetiredPendingMax keys are in
// use. Owner thread only.
ThreadState::RetiredPending* PendingRow(ThreadState& ts, uint64_t key) {
  constexpr uint32_t kMask = ThreadState::kRetiredPending - 1;
  for (uint32_t i = static_cast<uint32_t>(Mix64(key)) & kMask;; i = (i + 1) & kMask) {
    ThreadState::RetiredPending& row = ts.retired_pending[i];
    if (row.key == key) return &row;
    if (row.key != 0) continue;
    if (ts.retired_pending_used >= ThreadState::kRetiredPendingMax) return nullptr;
    ++ts.retired_pending_used;
    row.key = key;
    return &row;
  }
}

// Moves the thread's pending rows into the retired table. Caller holds RetiredMutex.
void MergePendingLocked(ThreadState& ts) {
  if (ts.retired_pending_used == 0) return;
  for (ThreadState::RetiredPending& row : ts.retired_pending) {
    if (row.key == 0) continue;
    stats::RetireLockLocked(row.key, row.shard);
    row = ThreadState::RetiredPending{};
  }
  ts.retired_pending_used = 0;
}

// Adds the entry's counts to `to` and the thread's totals, and empties the entry. The caller
// excludes Collect() (RetiredMutex, or the retire_busy handshake).
void MoveEntryStats(ThreadState& ts, IdCacheEntry& c, LockHist& h, bool observed,
                    stats::LockShard* to) {
  // The totals are written by their owner only: a load and a store.
  ts.total_acquisitions.store(
      ts.total_acquisitions.load(std::memory_order_relaxed) + c.acquisitions,
      std::memory_order_relaxed);
  if (h.contentions != 0) {
    ts.total_contentions.store(
        ts.total_contentions.load(std::memory_order_relaxed) + h.contentions,
        std::memory_order_relaxed);
  }
  if (to != nullptr) {
    to->acquisitions += c.acquisitions;
    to->contentions += h.contentions;
    to->gpu_sync_ns += h.gpu_sync_ns;
    to->churn += h.churn;
    to->shared_acquisitions += h.shared_acquisitions;
    to->shared_contentions += h.shared_contentions;
    to->rwlock = to->rwlock || (c.node != nullptr && c.node->cls == LockClass::kRwLock);
    if (observed) {
      to->wait.Add(h.wait);
      to->hold.Add(h.hold);
    }
  }
  c = IdCacheEntry{};
  h.contentions = h.wait_ns = h.hold_ns = h.hold_samples = 0;
  h.gpu_sync_ns = h.churn = h.shared_acquisitions = h.shared_contentions = 0;
  h.key = 0;
  h.untimed_first_hold = false;
  if (observed) {
    h.wait = stats::Histogram{};
    h.hold = stats::Histogram{};
    h.observed = false;
  }
}

// Retires one cache entry's statistics (above) and empties it. A histogram is added and cleared
// only when one was observed (LockHist::observed; most entries never saw a contention or a timed
// hold): the entry is emptied with stores of its words, not a 344-byte block clear.
void FlushCacheEntry(ThreadState& ts, IdCacheEntry& c) {
  LockHist& h = ts.lock_hist[&c - ts.id_cache];
  const bool observed = h.observed;
  if (c.acquisitions == 0 && h.contentions == 0 && !observed && h.gpu_sync_ns == 0 &&
      h.churn == 0) {
    MoveEntryStats(ts, c, h, false, nullptr);  // nothing to move: only emptied
    return;
  }
  // The node's counters (lockaudit::stats() of a live lock, read racily) are atomics of their
  // own, added to, and only what is nonzero; they are reset when the node is reused.
  if (c.id != 0 && E().registry.IsLive(c.id)) {
    LockNode& n = E().registry.Node(c.id);
    auto add = [](std::atomic<uint64_t>& to, uint64_t delta) {
      if (delta != 0) to.fetch_add(delta, std::memory_order_relaxed);
    };
    add(n.acquisitions, c.acquisitions);
    add(n.contentions, h.contentions);
    add(n.wait_ns, h.wait_ns);
    add(n.hold_ns, h.hold_ns);
    add(n.hold_samples, h.hold_samples);
    add(n.shared_acquisitions, h.shared_acquisitions);
    add(n.shared_contentions, h.shared_contentions);
  }
  // retire_busy is already raised only when a flush interrupts another (never expected: the
  // engine's own paths run with the thread's state hidden from signal handlers).
  if (h.key != 0 && g_light_retire.load(std::memory_order_relaxed) &&
      ts.retire_busy.load(std::memory_order_relaxed) == 0) {
    ThreadState::RetiredPending* row = nullptr;
    ts.retire_busy.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // Collect's membarrier orders it
    if (g_retire_readers.load(std::memory_order_relaxed) == 0 &&
        (row = PendingRow(ts, h.key)) != nullptr) {
      MoveEntryStats(ts, c, h, observed, &row->shard);
      ts.retire_busy.store(0, std::memory_order_release);
      return;
    }
    ts.retire_busy.store(0, std::memory_order_release);
  }
  EngineLock lock(stats::RetiredMutex());
  MergePendingLocked(ts);  // full (or a reader is at work): room again for the next ones
  MoveEntryStats(ts, c, h, observed, h.key != 0 ? &stats::RetiredLockLocked(h.key) : nullptr);
}

// The key of a lock's statistics (stats_shards.h), fixed for the lock when first needed so that
// all of its shards sum into one row however its name evolves: an explicit name always wins;
// else the name it has by then; else, for a lock in a module's static data, its address (the
// row is named by its data symbol, as reports name the lock); else its first lock site (heap
// and stack locks of one site share a row, as their names do).
uint64_t StatsKeyOf(LockNode& n, bool on_stack) {
  const char* name = n.name.load(std::memory_order_acquire);
  if (name != nullptr &&
      std::atomic_ref<NameSource>(n.name_source).load(std::memory_order_relaxed) ==
          NameSource::kExplicit) {
    return stats::KeyForName(name);
  }
  if (const uint64_t fixed = n.stats_key.load(std::memory_order_acquire); fixed != 0) return fixed;
  const uintptr_t addr = LockRegistry::AddressOf(n);
  const uintptr_t pc = n.first_site_pc.load(std::memory_order_relaxed);
  uint64_t key = 0;
  if (name != nullptr) {
    key = stats::KeyForName(name);
  } else if (pc != 0 && (on_stack || !static_data::Contains(addr))) {
    key = stats::KeyForSite(pc, on_stack);
  } else {
    key = stats::KeyForAddress(addr);  // static data, or no site known
  }
  uint64_t expected = 0;
  return n.stats_key.compare_exchange_strong(expected, key, std::memory_order_acq_rel) ? key
                                                                                      : expected;
}

// ---- Cancellation around engine work -----------------------------------------------------
// The engine's write()/open()/read() are cancellation points, and a lock call, which is none,
// must never act on a pending cancel inside the engine (its mutexes held). An engine scope
// therefore disables cancellation, with pthread_setcancelstate: an atomic compare-and-swap on
// entry and another on exit, which is most of what a scope costs on the learning paths. Under
// the shim, a scope skips them while no cancel was ever requested in the process: pthread_cancel
// is interposed (BeforeCancel), and a cancel is delivered only after the target thread has
// left every scope that skipped them. The scope raises its thread's light_scopes count and then
// checks g_cancel_mode with a compiler barrier only; the canceller sets kCancelSeen and
// makes every thread of the process execute a full barrier (membarrier(2), registered at load)
// before it reads the count: either it sees the count raised and waits, or the scope sees the
// flag cleared and disables cancellation itself. Without membarrier, or in a program that uses
// the instrumented types without the shim, every scope uses pthread_setcancelstate.
enum CancelMode : uint8_t { kHeavyScopes = 0, kLightScopes = 1, kCancelSeen = 2 };
// kHeavyScopes until the shim enables light ones (kLightScopes); kCancelSeen for good from the
// first pthread_cancel, before or after that.
std::atomic<uint8_t> g_cancel_mode{kHeavyScopes};
// The calling thread's state for its light_scopes count; set while the state is the thread's
// (tls_state is cleared inside the engine and under a SignalShield, so it cannot serve).
__thread ThreadState* tls_cancel_state __attribute__((tls_model("initial-exec"))) = nullptr;

// Returns the state whose count this scope raised, or nullptr after disabling cancellation
// (`*saved_cancel`: the state to restore).
inline ThreadState* EnterCancelScope(int* saved_cancel) noexcept {
  ThreadState* own = tls_cancel_state;
  if (own != nullptr && g_cancel_mode.load(std::memory_order_relaxed) == kLightScopes) {
    const uint32_t open = own->light_scopes.load(std::memory_order_relaxed);
    own->light_scopes.store(open + 1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the canceller's membarrier orders it
    if (g_cancel_mode.load(std::memory_order_relaxed) == kLightScopes) return own;
    own->light_scopes.store(open, std::memory_order_release);
  }
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, saved_cancel);
  return nullptr;
}

inline void LeaveCancelScope(ThreadState* light, int saved_cancel) noexcept {
  if (light != nullptr) {
    light->light_scopes.store(light->light_scopes.load(std::memory_order_relaxed) - 1,
                              std::memory_order_release);
  } else {
    pthread_setcancelstate(saved_cancel, nullptr);
  }
}

// Inside-engine scope without the public class's bookkeeping, for this file.
// Also keeps errno: an interposed call must leave it as the real function did.
// Cancellation is disabled meanwhile (EnterCancelScope).
struct Inside {
  ThreadState* saved = tls_state;
  uint8_t saved_mode = tls_mode;
  int saved_errno = errno;
  int saved_cancel = 0;
  ThreadState* light;
  Inside() {
    tls_state = nullptr;
    tls_mode = kInside;
    light = EnterCancelScope(&saved_cancel);
  }
  ~Inside() {
    LeaveCancelScope(light, saved_cancel);
    tls_state = saved;
    tls_mode = saved_mode;
    errno = saved_errno;
  }
};

// While a slow path changes this thread's held set (or the wait it publishes), a signal handler
// that interrupts it and locks must not change them too: the two pushes would take one slot, and
// the thread would "hold" the handler's lock instead of its own (invented double_lock,
// unlock_not_held and lock_order_cycle findings). The shield hides the thread's state for that
// time, so the handler's lock and unlock calls pass through unrecorded, both of them, as inside
// the engine. (The fast paths check their slot instead: hot_path.h HeldSlotOverwritten.)
// Costs two TLS stores; used only off the fast path.
struct SignalShield {
  ThreadState* saved = tls_state;
  SignalShield() noexcept {
    tls_state = nullptr;
    asm volatile("" ::: "memory");
  }
  ~SignalShield() {
    asm volatile("" ::: "memory");
    tls_state = saved;
  }
  SignalShield(const SignalShield&) = delete;
  SignalShield& operator=(const SignalShield&) = delete;
};

ReportThread ThreadOf(const ThreadState& ts) { return ReportThread{ts.tid, ts.name}; }

// ---- Naming and levels (core/lock_names.h) ---------------------------------------------

NameInputs NameInputsOf(NodeId id) { return E().names.InputsOf(id); }
std::string NameFrom(const NameInputs& in) { return E().names.Name(in); }
std::string NameOf(NodeId id) { return NameFrom(NameInputsOf(id)); }
ReportLock LockFrom(const NameInputs& in) { return E().names.Lock(in); }

// A direct edge's report line, written by the symbolizer thread (its names may need symbols),
// deduplicated by the pair of names. `update`: the edge's modes or gates changed since its line
// was written; written only if a line for the pair was (with what it says now).
struct EdgeJob {
  NameInputs from, to;
  ReportThread thread;
  StackId stack = 0, held_stack = 0;
  uint8_t from_modes = 0, to_modes = 0;
  std::vector<NameInputs> gates;
  bool update = false;
};

std::atomic<uint64_t> g_edge_lines_posted{0};

void PublishEdgeJob(void* arg) {
  EdgeJob* j = static_cast<EdgeJob*>(arg);
  Engine& e = E();
  {
    // What the edge says now, not when the job was posted: jobs of two threads about one edge
    // may run in either order, and the line written last must carry the latest evidence.
    EdgeRecord now_rec;
    if (e.lock_order.CurrentEdge(j->from.id, j->to.id, &now_rec)) {
      const EdgeRecord* r = &now_rec;
      j->from_modes = r->from_modes;
      j->to_modes = r->to_modes;
      std::vector<NameInputs> now;
      for (uint32_t g = 0; g < r->ngates; ++g) {
        const NodeId id = static_cast<NodeId>(r->gates[g]);
        // Gates only shrink: each is one of the job's, read while it was live.
        auto same = std::find_if(j->gates.begin(), j->gates.end(),
                                 [id](const NameInputs& in) { return in.id == id; });
        now.push_back(same != j->gates.end() ? *same : NameInputsOf(id));
      }
      j->gates = std::move(now);
    }
  }
  ReportLock from = LockFrom(j->from), to = LockFrom(j->to);
  std::vector<ReportLock> gates;
  std::string said = std::to_string(j->from_modes) + "/" + std::to_string(j->to_modes);
  for (const NameInputs& g : j->gates) {
    gates.push_back(LockFrom(g));
    said += "/" + gates.back().name;
  }
  bool write;
  {
    EngineLock lock(e.dedupe_mu);
    auto it = e.published_edges.find({from.name, to.name});
    if (it == e.published_edges.end()) {
      write = !j->update;  // an update before the first line: that line will say it all
      if (write) e.published_edges.emplace(std::make_pair(from.name, to.name), said);
    } else {
      write = it->second != said;
      it->second = said;
    }
  }
  if (write) {
    PublishEdge(from, to, j->thread, j->stack, j->held_stack, j->from_modes, j->to_modes, gates);
  }
  delete j;
}

ReportLock LockOf(NodeId id) { return LockFrom(NameInputsOf(id)); }

// Registers `lock` (cold: first event for this address). The caller is inside the engine
// (FillCache's Inside: a second scope would save errno and enter a cancel scope again).
// `claim_note`: the calling thread's ThreadState::claim_note (ThisThread() is null inside the
// engine: the caller passes it from the state it already has).
LOCKAUDIT_COLD NodeId Register(const void* lock, LockClass cls, uintptr_t site_pc,
                               std::atomic<uint32_t>* claim_note, bool* fresh = nullptr) {
  bool is_new = false;
  NodeId id = E().registry.Insert(lock, cls, &is_new, claim_note);
  if (fresh != nullptr) *fresh = is_new;
  if (is_new) {
    E().registry.Node(id).first_site_pc.store(site_pc, std::memory_order_relaxed);
    E().names.ApplyHierarchy(id, nullptr);
  }
  return id;
}

// ---- Hot path helpers --------------------------------------------------------------------


// ---- Locks on a thread's own stack --------------------------------------------------------
// They are never destroyed nor freed: when their frame returns, another frame reuses the
// address at once. The owner thread records the frame that holds the lock (its CFA and the
// return address just below it, found by one unwind at registration) and checks that word on
// every acquisition through its cache: a changed word means the frame returned, and the lock is
// forgotten. (x86-64: the return address sits at CFA-8.) A frame re-entered from the very same
// call instruction passes the check; its lock is then the same lock site with the same orders.

inline bool OnOwnStack(const ThreadState& ts, const void* lock) {
  uintptr_t a = reinterpret_cast<uintptr_t>(lock);
  return a >= ts.stack_lo && a < ts.stack_hi;
}


// Finds the frame holding `lock` (frame k spans [sp(k), sp(k+1))) and records it in the node.
void RecordStackOwner(ThreadState& ts, NodeId id, const void* lock) {
#if defined(__x86_64__)
  LockNode& n = E().registry.Node(id);
  if (n.stack_owner_cfa.load(std::memory_order_relaxed) != 0) return;
  RawFrame frames[128];
  size_t nf = CaptureFrames(frames, 128, 0);
  uintptr_t a = reinterpret_cast<uintptr_t>(lock);
  for (size_t k = 0; k + 1 < nf; ++k) {
    uintptr_t cfa = frames[k + 1].sp;
    if (frames[k].sp <= a && a < cfa && cfa <= ts.stack_hi) {
      n.stack_owner_ret.store(*reinterpret_cast<const uintptr_t*>(cfa - 8), std::memory_order_relaxed);
      n.stack_owner_cfa.store(cfa, std::memory_order_release);
      return;
    }
  }
#else
  (void)ts, (void)id, (void)lock;
#endif
}

void ForgetLock(const void* lock) {
  NodeId id = E().registry.Remove(lock);
  if (id != 0) ForgetNode(id, nullptr);
}

LOCKAUDIT_COLD IdCacheEntry* FillCache(ThreadState& ts, const void* lock, LockClass cls,
                                       uintptr_t site_pc) {
  Inside inside;
  const bool on_stack = OnOwnStack(ts, lock);
  NodeId id = E().registry.Lookup(lock);
  if (id != 0 && on_stack) {
    LockNode& n = E().registry.Node(id);
    uintptr_t cfa = n.stack_owner_cfa.load(std::memory_order_acquire);
    // An owner frame outside this thread's stack belongs to a dead thread whose stack memory
    // this thread now uses: dead as well (and never read).
    bool foreign = cfa != 0 && (cfa < ts.stack_lo + 8 || cfa > ts.stack_hi);
    if (foreign || OwnerFrameDead(cfa, n.stack_owner_ret.load(std::memory_order_relaxed))) {
      ForgetLock(lock);  // a dead frame's lock at this address
      id = 0;
    }
  }
  bool fresh = false;
  if (id == 0) id = Register(lock, cls, site_pc, &ts.claim_note, &fresh);
  if (id == 0) return nullptr;
  if (fresh) misuse::CheckAlignment(ts, id, lock, cls, site_pc);
  wake::EnsureWatchdog();  // hold stalls need it even where nothing is ever contended
  IdCacheEntry& c = ts.id_cache[CacheSlot(lock)];
  const bool evicting = c.id != 0;
  FlushCacheEntry(ts, c);
  ts.lock_hist[&c - ts.id_cache].untimed_first_hold =
      evicting && (++ts.evicting_fills & (ThreadState::kHoldSamplePeriod - 1)) != 0;
  c.addr = reinterpret_cast<uintptr_t>(lock);
  c.id = id;
  c.node = &E().registry.Node(id);
  c.last_sig = 0;
  c.held_key = HeldKey(id, kExclusive);
  ts.edge_salt[&c - ts.id_cache] = EdgeSalt(c.held_key);
  ts.lock_hist[&c - ts.id_cache].key = StatsKeyOf(*c.node, on_stack);
  if (on_stack) {
    RecordStackOwner(ts, id, lock);
    c.owner_cfa = E().registry.Node(id).stack_owner_cfa.load(std::memory_order_acquire);
    c.owner_ret = E().registry.Node(id).stack_owner_ret.load(std::memory_order_relaxed);
  }
  return &c;
}

LOCKAUDIT_COLD IdCacheEntry* StackFrameReturned(ThreadState& ts, IdCacheEntry& c, const void* lock,
                                                LockClass cls, uintptr_t site_pc) {
  {
    Inside inside;
    ForgetLock(lock);
  }
  c.id = 0;  // dead: nothing to flush
  return FillCache(ts, lock, cls, site_pc);
}

LOCKAUDIT_HOT IdCacheEntry* CacheLookup(ThreadState& ts, const void* lock, LockClass cls,
                                 uintptr_t site_pc) {
  IdCacheEntry& c = ts.id_cache[CacheSlot(lock)];
  if (LOCKAUDIT_PREDICT_TRUE(c.addr == reinterpret_cast<uintptr_t>(lock) &&
                             c.node->generation.load(std::memory_order_acquire) ==
                                 GenerationOf(c.id))) {
    if (LOCKAUDIT_PREDICT_FALSE(OwnerFrameDead(c.owner_cfa, c.owner_ret))) {
      return StackFrameReturned(ts, c, lock, cls, site_pc);
    }
    return &c;
  }
  return FillCache(ts, lock, cls, site_pc);
}

LOCKAUDIT_COLD void GrowHeld(ThreadState& ts) {
  uint32_t cap = ts.held_capacity * 2;
  void* mem = mmap(nullptr, cap * sizeof(HeldLock), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;  // caller checks capacity
  memcpy(mem, ts.held, ts.held_count * sizeof(HeldLock));
  if (ts.held != ts.inline_held) {
    // Kept mapped until the state is recycled: the watchdog may be reading it (thread_state.h).
    if (ts.spare_held_count < ThreadState::kMaxSpareHeld) {
      ts.spare_held[ts.spare_held_count] = ts.held;
      ts.spare_held_cap[ts.spare_held_count++] = ts.held_capacity;
    }
  }
  // Pointer first, then capacity (release): the watchdog reads them in the opposite order.
  std::atomic_ref<HeldLock*>(ts.held).store(static_cast<HeldLock*>(mem), std::memory_order_release);
  std::atomic_ref<uint32_t>(ts.held_capacity).store(cap, std::memory_order_release);
}

// The acquisition at `site` pushes onto the slot of the last release (ThreadState::
// last_released): churn when that slot still names `lock` and was taken at another site.
LOCKAUDIT_COLD void NoteReacquire(ThreadState& ts, IdCacheEntry& c, const void* lock, Site site) {
  const HeldLock& released = ts.held[ts.held_count];
  if (released.addr != lock || released.id != c.id || released.site.pc == site.pc ||
      (released.flags & kCondReacquired) != 0) {
    return;
  }
  LockHist& hist = ts.lock_hist[&c - ts.id_cache];
  // Sampled by the fast path (which counted it in hist.churn), or found here (counted now).
  const uint32_t weight = ts.churn_weight != 0 ? ts.churn_weight : 1;
  if (ts.churn_weight == 0) ++hist.churn;
  ts.churn_weight = 0;
  if (churn::CountKnown(ts, c.id, released.site.pc, site.pc, weight)) return;
  Inside inside;
  churn::Record(ts, c.id, released.site, site, weight);
}

LOCKAUDIT_HOT void Push(ThreadState& ts, IdCacheEntry& c, const void* lock, uint32_t flags, Site site) {
  if (LOCKAUDIT_PREDICT_FALSE(ts.held_count == ts.held_capacity)) {
    GrowHeld(ts);
    if (ts.held_count == ts.held_capacity) return;  // out of memory: stop tracking deeper holds
  }
  if (LOCKAUDIT_PREDICT_FALSE(ts.last_released == &ts.held[ts.held_count])) {
    NoteReacquire(ts, c, lock, site);
  }
  ts.last_released = nullptr;
  ts.churn_weight = 0;
  int level = c.node->level.load(std::memory_order_relaxed);
  int prev = ts.held_count ? ts.held[ts.held_count - 1].prefix_max_level : kNoLevel;
  const bool timed = HoldSampleDue(c) &&
                     !(c.acquisitions == 0 && ts.lock_hist[&c - ts.id_cache].untimed_first_hold);
  const uint64_t hold_start_ns = timed ? NowNs() : 0;
  const uint64_t key = (flags & kShared) ? HeldKey(c.id, flags) : c.held_key;
  PushHeld(ts, c, lock, flags, site, std::max(prev, level), key, hold_start_ns);
}

// Removes held[i], keeping the order, the prefix levels and the signatures of the entries
// above it.
void RemoveHeld(ThreadState& ts, uint32_t i) {
  --ts.held_count;
  ts.last_released = nullptr;  // (not a top entry's release: no churn tracked through it)
  for (uint32_t k = i; k < ts.held_count; ++k) {
    HeldLock& h = ts.held[k];
    h = ts.held[k + 1];
    int prev = k ? ts.held[k - 1].prefix_max_level : kNoLevel;
    int level = E().registry.IsLive(h.id)
                    ? E().registry.Node(h.id).level.load(std::memory_order_relaxed)
                    : kNoLevel;
    h.prefix_max_level = std::max(prev, level);
    h.sig = (k ? ts.held[k - 1].sig : 0) ^ HeldKey(h.id, h.flags);
  }
}

// ---- Slow paths --------------------------------------------------------------------------

bool ReportOnce(FindingKind kind, NodeId a, NodeId b) {
  EngineLock lock(E().dedupe_mu);
  return E().reported_once.insert({static_cast<int>(kind), {a, b}}).second;
}

StackId CurrentStack(uintptr_t start_pc) {
  RawFrame frames[128];
  size_t depth = static_cast<size_t>(E().opts.stack_depth);
  size_t n = CaptureFrames(frames, std::min<size_t>(depth, 128), start_pc);
  uintptr_t pcs[128];
  for (size_t i = 0; i < n; ++i) pcs[i] = frames[i].pc;
  return InternStack(pcs, n);
}

// The waiter's stack for the contention profile (ThreadState::wait_stacks): a verified cached
// one, else an unwind that is then cached.
StackId WaitStackOf(ThreadState& ts, Site site) {
  ThreadState::WaitStack& c =
      ts.wait_stacks[Mix64(site.pc ^ (site.cfa << 7)) % ThreadState::kWaitStackCache];
  // Only on the thread's own stack, whose mapping lives as long as the thread (not on a fiber's
  // or a ucontext stack, which may be unmapped or reused at the same address).
  const bool own_stack = ts.stack_hi != 0 && site.cfa >= ts.stack_lo && site.cfa < ts.stack_hi;
  if (own_stack && c.stack != 0 && c.site_pc == site.pc && c.site_cfa == site.cfa) {
    bool same = true;
    for (uint32_t k = 0; k < c.n && same; ++k) {
      const uintptr_t sp = c.sp[k];
      // Only slots this thread's own unwind found at this call site and depth are read: they
      // lie above this frame in its stack (glibc's start frames too, above ts.stack_hi).
      same = sp >= site.cfa && sp - site.cfa < (64u << 20) &&
             *reinterpret_cast<const uintptr_t*>(sp - sizeof(uintptr_t)) == c.pc[k];
    }
    if (same) return c.stack;
  }
  RawFrame frames[128];
  const size_t depth = std::min<size_t>(static_cast<size_t>(E().opts.stack_depth), 128);
  const size_t n = CaptureFrames(frames, depth, site.pc);
  uintptr_t pcs[128];
  for (size_t i = 0; i < n; ++i) pcs[i] = frames[i].pc;
  const StackId stack = InternStack(pcs, n);
  // Cached only when the whole stack can be checked, from the call site on.
  if (own_stack && n > 0 && n <= ThreadState::kWaitStackFrames && frames[0].pc == site.pc &&
      frames[0].sp == site.cfa) {
    c.site_pc = site.pc;
    c.site_cfa = site.cfa;
    c.stack = stack;
    c.n = static_cast<uint32_t>(n);
    for (size_t k = 0; k < n; ++k) {
      c.pc[k] = frames[k].pc;
      c.sp[k] = frames[k].sp;
    }
  } else {
    c.stack = 0;
  }
  return stack;
}

uint64_t EvidenceKey(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d) {
  return Mix64(Mix64(Mix64(a ^ Mix64(b)) ^ c) ^ d);
}

// Stacks for the edges held[i] -> (lock being acquired at `a.site`), i in held_idx[0..count):
// held_stacks[k] for held_idx[k]. Reuses the stacks of an earlier capture made by this thread at
// the same call sites and stack depths (its own cache, ThreadState::evidence_cache, then one
// evidence_mu section for what that lacks); otherwise, unless `lookup_only`, unwinds once
// and rebuilds each held lock's stack from the current frames (RebuildHeldStack: exact, or only
// the acquisition site when the function that took the held lock has returned). Returns whether
// every stack is known.
bool CaptureEvidence(const Acquisition& a, const uint32_t* held_idx, uint32_t count,
                     StackId* stack, StackId* held_stacks, bool lookup_only) {
  Engine& e = E();
  constexpr size_t kMaxEvidence = 1 << 16;
  ThreadState* ts = a.thread;
  auto slot_of = [ts](uint64_t key) -> ThreadState::EvidenceSlot* {
    return ts == nullptr ? nullptr : &ts->evidence_cache[key % ThreadState::kEvidenceCache];
  };
  auto remember = [&e, &slot_of](uint64_t key, StackId id) {
    if (ThreadState::EvidenceSlot* c = slot_of(key)) *c = {key, id};
    EngineLock lock(e.evidence_mu);
    if (e.evidence.size() >= kMaxEvidence) e.evidence.clear();
    e.evidence.emplace(key, id);
  };
  // Locks taken at one site in one frame (a loop, nested guards) share their held stack.
  auto same_site_as_earlier = [&](uint32_t k) -> int {
    const Site& hs = a.held[held_idx[k]].site;
    for (uint32_t p = 0; p < k; ++p) {
      const Site& ps = a.held[held_idx[p]].site;
      if (ps.pc == hs.pc && ps.cfa == hs.cfa) return static_cast<int>(p);
    }
    return -1;
  };
  // Keyed by thread too: a thread created after another was joined gets the same stack memory,
  // so one call site at one depth (the same pc and CFA) can be reached through other callers.
  const uint64_t thread_key = Mix64(a.incarnation);
  const uint64_t here = EvidenceKey(a.site.pc, a.site.cfa, 0, thread_key);
  uint64_t keys[LockOrder::kEdgeWindow];
  bool all_known = true;
  // The thread's own cache first; what it lacks, from the shared table (then cached).
  auto cached = [&slot_of](uint64_t key) -> StackId {
    const ThreadState::EvidenceSlot* c = slot_of(key);
    return c != nullptr && c->key == key ? c->stack : StackId{0};
  };
  *stack = cached(here);
  uint32_t missing = *stack == 0 ? 1 : 0;
  for (uint32_t k = 0; k < count; ++k) {
    const int p = same_site_as_earlier(k);
    if (p >= 0) {
      keys[k] = 0;
      continue;
    }
    const Site& hs = a.held[held_idx[k]].site;
    keys[k] = EvidenceKey(hs.pc, hs.cfa, a.site.pc, a.site.cfa ^ thread_key);
    held_stacks[k] = cached(keys[k]);
    if (held_stacks[k] == 0) ++missing;
  }
  if (missing != 0) {
    EngineLock lock(e.evidence_mu);
    auto lookup = [&e, &slot_of](uint64_t key) LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
      auto it = e.evidence.find(key);  // evidence_mu held
      if (it == e.evidence.end()) return StackId{0};
      if (ThreadState::EvidenceSlot* c = slot_of(key)) *c = {key, it->second};
      return it->second;
    };
    if (*stack == 0) all_known = (*stack = lookup(here)) != 0;
    for (uint32_t k = 0; k < count && all_known; ++k) {
      if (keys[k] != 0 && held_stacks[k] == 0) all_known = (held_stacks[k] = lookup(keys[k])) != 0;
    }
  }
  for (uint32_t k = 0; k < count && all_known; ++k) {
    if (keys[k] == 0) held_stacks[k] = held_stacks[same_site_as_earlier(k)];
  }
  if (all_known || lookup_only) return all_known;
  RawFrame frames[128];
  size_t depth = std::min<size_t>(static_cast<size_t>(e.opts.stack_depth), 128);
  size_t nf = CaptureFrames(frames, depth, a.site.pc);
  uintptr_t pcs[128];
  for (size_t k = 0; k < nf; ++k) pcs[k] = frames[k].pc;
  *stack = InternStack(pcs, nf);
  remember(here, *stack);
  for (uint32_t k = 0; k < count; ++k) {
    const Site& hs = a.held[held_idx[k]].site;
    const int p = same_site_as_earlier(k);
    if (p >= 0) {
      held_stacks[k] = held_stacks[p];
      continue;
    }
    bool partial = false;
    std::vector<uintptr_t> hp = RebuildHeldStack(frames, nf, hs.pc, hs.cfa, depth, &partial);
    held_stacks[k] = InternStack(hp.data(), hp.size(), partial);
    remember(EvidenceKey(hs.pc, hs.cfa, a.site.pc, a.site.cfa ^ thread_key), held_stacks[k]);
  }
  return true;
}

bool EngineLockOrderHost::IsLive(NodeId id) { return E().registry.IsLiveOrdered(id); }
void EngineLockOrderHost::MarkInGraph(NodeId id) {
  // Stored only when not set yet: a lock in the graph keeps the flag until its node is reset
  // for a new lock, so the kill that ends this lock's life still sees it (seq_cst, IsLive
  // after), and two threads learning edges of one lock do not write its line in turn.
  std::atomic<bool>& in_graph = E().registry.Node(id).in_graph;
  if (!in_graph.load(std::memory_order_seq_cst)) in_graph.store(true, std::memory_order_seq_cst);
}
NodeId EngineLockOrderHost::IdAt(uint32_t index) {
  return MakeNodeId(E().registry.NodeAt(index).generation.load(std::memory_order_relaxed), index);
}
uint64_t EngineLockOrderHost::NamingKey(NodeId id) { return E().names.NamingKey(id); }
// Edge lines go to the JSON report only (docs/report.md); LOCKAUDIT_REPORT is read once, at
// start-up, so this needs no lock (JsonReportOn() takes the report's mutex).
bool EngineLockOrderHost::WantsEdgeLines() { return E().opts.report[0] != '\0'; }
bool EngineLockOrderHost::CaptureEvidence(const Acquisition& a, const uint32_t* window,
                                          uint32_t count, StackId* stack, StackId* held_stacks,
                                          bool lookup_only) {
  return core::CaptureEvidence(a, window, count, stack, held_stacks, lookup_only);
}
std::string EngineLockOrderHost::OrderedReason(uint32_t x, const std::string& x_name, uint32_t y,
                                               const std::string& y_name) {
  return lineage::OrderedReason(x, x_name, y, y_name);
}

ReportThread ThreadOfEdge(const EdgeRecord& r) { return ReportThread{r.tid, r.thread_name}; }

// Learns the edges of this acquisition (the thread is acquiring `id` with `flags` at `site`)
// through the lock-order detector, then posts the edge lines and publishes the cycles it found,
// with the detector's mutex released.
LOCKAUDIT_COLD void LearnEdges(ThreadState& ts, NodeId id, uint32_t flags, Site site) {
  Engine& e = E();
  // Entries another thread unlocked behind this one's back are stale: they are neither the
  // source of an edge, nor an outer lock of one, nor a gate. Only the entries the detector
  // reads are checked: from the top until the nearest lock and its outer locks (each taken
  // exclusively by a blocking call) are found, at most kTopScan; and the first kGateScan.
  uint32_t blocking = 0;
  for (uint32_t i = ts.held_count; i-- > 0;) {
    const bool past_top =
        blocking > EdgeRecord::kOuters || i + LockOrder::kTopScan < ts.held_count;
    if (past_top && i >= LockOrder::kGateScan) {
      i = LockOrder::kGateScan;  // skip the middle: the detector reads none of it
      continue;
    }
    const HeldLock& h = ts.held[i];
    if (!e.registry.IsLive(h.id)) continue;  // the detector passes over it
    if (e.registry.Node(h.id).foreign_unlocks.load(std::memory_order_relaxed) !=
        h.foreign_unlocks_at) {
      RemoveHeld(ts, i);
      continue;
    }
    if (h.id != id && LockOrder::CarriesOrder(h.flags)) ++blocking;
  }
  Acquisition a;
  a.id = id;
  a.flags = flags;
  a.site = site;
  a.held = ts.held;
  a.held_count = ts.held_count;
  a.tid = ts.tid;
  a.thread_name = ts.name;
  a.incarnation = ts.incarnation;
  a.thread = &ts;
  // Lock-free first: when every edge of this context is saturated, nothing can change.
  LockOrder::Window window;
  if (e.lock_order.AllSaturated(a, &window)) return;
  Inside inside;
  LearnResult found;
  e.lock_order.Learn(a, window, &found);
  auto post = [](const EdgeRecord& r, bool update) {
    g_edge_lines_posted.fetch_add(1, std::memory_order_relaxed);
    // The edge line names its locks, and naming may symbolize: that runs on the symbolizer
    // thread, never on this one (which may hold an allocator lock, stacks.h).
    auto* job = new EdgeJob{NameInputsOf(r.from), NameInputsOf(r.to), ThreadOfEdge(r), r.stack,
                            r.held_stack, r.from_modes, r.to_modes, {}, update};
    for (uint32_t g = 0; g < r.ngates; ++g) {
      job->gates.push_back(NameInputsOf(static_cast<NodeId>(r.gates[g])));
    }
    if (!PostToSymbolizerThread(PublishEdgeJob, job)) PublishEdgeJob(job);
  };
  // Edge lines go to the JSON report only: without one, naming their locks on the symbolizer
  // thread (libdw reading the program's debug information: 4.5 MB resident for
  // `bench/workloads scale`) would buy nothing.
  if ((!found.new_edges.empty() || !found.changed_edges.empty()) && JsonReportOn()) {
    for (const EdgeRecord& r : found.new_edges) post(r, false);
    for (const EdgeRecord& r : found.changed_edges) post(r, true);
  }
  for (CycleFinding& pc : found.cycles) {
    Finding f;
    f.kind = FindingKind::kLockOrderCycle;
    std::string names;
    for (NodeId nid : pc.nodes) {
      f.locks.push_back(LockOf(nid));
      names += "'" + f.locks.back().name + "' -> ";
    }
    names += "'" + f.locks.front().name + "'";
    bool single = true;
    std::set<uint32_t> tids;
    for (const EdgeRecord& r : pc.edges) {
      f.edges.push_back(ReportEdge{r.from, r.to, ThreadOfEdge(r), r.stack, r.held_stack, r.implied});
      if (tids.insert(r.tid).second) f.threads.push_back(ThreadOfEdge(r));
      single = single && !r.multi_thread;
    }
    f.single_thread = single && tids.size() == 1;
    f.message = "potential deadlock: " + std::to_string(pc.nodes.size()) +
                " locks acquired in inconsistent order: " + names;
    f.ordered_reason = pc.ordered_reason;
    if (pc.again) {
      f.message += " (reported before as ordered; another thread has since taken one of its "
                   "edges, so it can deadlock)";
    }
    Publish(std::move(f));
  }
}

// First-level miss of the context cache: the second level (shared, lock-free, keyed by this
// thread's incarnation), then learning.
// A context whose lock the thread already holds (a blocking re-lock) is learned but never
// cached: the fast path relies on "cached => not held" to skip scanning the held stack
// (hot_path.h, NestedPrefix).
// The first level is two-way: slots 2k and 2k+1 (one cache line) form a set, each key first
// looked up in its own slot by the fast path, then here in the other one; a hit there swaps the
// two, and a new key takes its own slot and moves that slot's key to the other one. (A program
// with more contexts than slots, memcached's 4,096 item locks each taken under other locks,
// keeps the most recent two of each set instead of one.)
// `may_hold`: false when the caller knows the thread does not hold `id` (Acquire).
LOCKAUDIT_COLD void LearnContext(ThreadState& ts, NodeId id, uint32_t flags, Site site,
                                 uint64_t key, uint64_t& slot, bool may_hold) {
  uint64_t& other = ts.edge_cache[static_cast<size_t>(&slot - ts.edge_cache) ^ 1];
  if (other == key) {
    other = slot;
    slot = key;
    return;
  }
  uint64_t key2 = Mix64(key ^ Mix64(ts.incarnation));
  bool relock = false;
  if (may_hold) {
    for (uint32_t i = 0; i < ts.held_count; ++i) relock |= ts.held[i].id == id;
  }
  if (!E().contexts.Contains(key2)) {
    LearnEdges(ts, id, flags, site);
    if (!relock) E().contexts.Insert(key2);
  }
  if (relock) return;
  if (slot != 0) other = slot;
  slot = key;
}

// Checks run before a non-try acquisition of `id` (while the thread holds something).
// `may_hold`: false when the caller knows the thread does not hold `id`.
LOCKAUDIT_HOT void PreAcquireChecks(ThreadState& ts, NodeId id, uint32_t flags, Site site,
                                    bool may_hold) {
  int level = E().registry.Node(id).level.load(std::memory_order_relaxed);
  if (LOCKAUDIT_PREDICT_FALSE(level != kNoLevel &&
                              ts.held[ts.held_count - 1].prefix_max_level >= level)) {
    misuse::CheckHierarchy(ts, id, site);
  }
  // Asymmetric in (held set, acquired lock): "hold A, take B" and "hold B, take A" differ.
  uint64_t key = EdgeCacheKey(HeldSig(ts), EdgeSalt(HeldKey(id, flags)));
  uint64_t& slot = ts.edge_cache[EdgeCacheSlot(key)];
  if (LOCKAUDIT_PREDICT_FALSE(slot != key)) LearnContext(ts, id, flags, site, key, slot, may_hold);
}

// The thread already holds `id` at held[i]. Returns true when the acquisition is fully
// handled (a recursive re-lock or a recursive read); false when it must be pushed.
LOCKAUDIT_COLD bool Reacquire(ThreadState& ts, uint32_t i, LockClass cls, uint32_t flags,
                              Site site, bool before_block) {
  HeldLock& h = ts.held[i];
  LockNode& node = E().registry.Node(h.id);
  if (node.foreign_unlocks.load(std::memory_order_relaxed) != h.foreign_unlocks_at) {
    RemoveHeld(ts, i);  // another thread unlocked it behind our back: our entry is stale
    return false;
  }
  if (cls == LockClass::kRecursiveMutex || ((flags & kShared) && (h.flags & kShared))) {
    if (!before_block) ++h.recursion;
    return !before_block;
  }
  if (before_block || !(flags & kTry)) {
    misuse::Report(ts, FindingKind::kDoubleLock, h.id, site,
                 "%L acquired again by the thread that already holds it; a non-recursive lock "
                 "blocks forever (or fails with EDEADLK) here");
  }
  if (!before_block) ++h.recursion;  // the real call succeeded: keep the books balanced
  return !before_block;
}

// An interposed call on a lock that an instrumented type manages: that type reports it.
LOCKAUDIT_HOT bool IgnoredShimEvent(const IdCacheEntry& c, uint32_t flags) {
  return (flags & kFromShim) && c.node->api_managed.load(std::memory_order_relaxed);
}

LOCKAUDIT_HOT void Acquire(ThreadState& ts, IdCacheEntry& c, const void* lock, LockClass cls,
                           uint32_t flags, Site site, bool prechecked) {
  if (LOCKAUDIT_PREDICT_FALSE(IgnoredShimEvent(c, flags))) return;
  const uint32_t n = ts.held_count;
  if (n != 0) {
    // The acquisition has succeeded. A plain mutex or spinlock taken exclusively that this
    // thread held already would have blocked it forever (or failed), unless another thread
    // unlocked it behind its back (its entry is stale, and the lock's foreign-unlock count says
    // so): then the held set need not be scanned, which would cost the held depth per lock (a
    // thread holding 2,000 locks would scan 2 million entries to take them).
    const bool may_hold = (cls != LockClass::kMutex && cls != LockClass::kSpinLock) ||
                          (flags & kShared) != 0 ||
                          c.node->foreign_unlocks.load(std::memory_order_relaxed) != 0;
    if (may_hold) {
      for (uint32_t i = n; i-- > 0;) {
        if (ts.held[i].id == c.id) {
          if (Reacquire(ts, i, cls, flags, site, false)) {
            ++c.acquisitions;
            return;
          }
          break;
        }
      }
    }
    if (!prechecked && !(flags & kTry) && ts.held_count != 0) {
      PreAcquireChecks(ts, c.id, flags, site, may_hold);
    }
  }
  Push(ts, c, lock, flags, site);
}

}  // namespace

// ---- Provider: bootstrap and threads -----------------------------------------------------

void EnsureInitialized() noexcept {
  int expected = static_cast<int>(EngineStatus::kUninit);
  if (!g_status.compare_exchange_strong(expected, static_cast<int>(EngineStatus::kInitializing))) {
    return;  // ready, disabled, or being initialised (by this thread re-entering, or another)
  }
  uint8_t saved_mode = tls_mode;
  tls_mode = kInside;
  Engine* e = new (g_engine_storage) Engine();
  ParseOptions(&e->opts, [](const char* v) -> const char* { return getenv(v); }, WarnLine);
  if (e->opts.disable) {
    g_status.store(static_cast<int>(EngineStatus::kDisabled), std::memory_order_release);
    tls_mode = saved_mode;
    return;
  }
  InitReport(e->opts);
  wake::Init(e->opts);
  confirm::Init(e->opts);
  profile::Init(e->opts);
  churn::Init(e->opts);
  if (e->opts.hierarchy[0] != '\0') LoadHierarchy(e->opts.hierarchy);
  pthread_key_create(&e->key, ThreadKeyDestructor);
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  atexit(AtExit);
  g_status.store(static_cast<int>(EngineStatus::kReady), std::memory_order_release);
  tls_mode = saved_mode;
}

const Options& GetOptions() { return E().opts; }  // after EnsureInitialized(), also if disabled

void StandDown() noexcept {
  int expected = static_cast<int>(EngineStatus::kUninit);
  g_status.compare_exchange_strong(expected, static_cast<int>(EngineStatus::kDisabled));
}

bool Disabled() noexcept {
  return g_status.load(std::memory_order_acquire) == static_cast<int>(EngineStatus::kDisabled);
}

LOCKAUDIT_COLD ThreadState* internal::ThisThreadSlow() noexcept {
  if (tls_mode != kFresh) return nullptr;
  const int saved_errno = errno;  // initialisation may open files and map memory
  struct RestoreErrno {
    int value;
    ~RestoreErrno() { errno = value; }
  } restore{saved_errno};
  EnsureInitialized();
  if (g_status.load(std::memory_order_acquire) != static_cast<int>(EngineStatus::kReady)) {
    return nullptr;
  }
  tls_mode = kInside;
  ThreadState* ts = NewThreadState();
  if (ts == nullptr) {
    tls_mode = kGone;
    return nullptr;
  }
  pthread_setspecific(E().key, ts);
  tls_mode = kActive;
  tls_state = ts;
  tls_cancel_state = ts;
  return ts;
}

EngineScope::EngineScope() noexcept : saved_(tls_state) {
  saved_mode_ = tls_mode;
  saved_errno_ = errno;
  tls_state = nullptr;
  tls_mode = kInside;
  light_ = EnterCancelScope(&saved_cancel_);  // as Inside
}
EngineScope::~EngineScope() {
  LeaveCancelScope(light_, saved_cancel_);
  tls_state = saved_;
  tls_mode = saved_mode_;
  errno = saved_errno_;
}

bool InsideEngine() noexcept { return tls_mode == kInside; }

namespace {
__thread uint32_t tls_program_heap __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace
bool UseEngineArena() noexcept { return tls_mode == kInside && tls_program_heap == 0; }
ProgramHeapScope::ProgramHeapScope() noexcept { ++tls_program_heap; }
ProgramHeapScope::~ProgramHeapScope() { --tls_program_heap; }

void BecomeEngineThread() noexcept {
  tls_state = nullptr;
  tls_mode = kInside;
  RegisterEngineTask();
}

namespace {
std::atomic<bool> g_background_allowed{false};  // StartBackground ran
std::atomic<bool> g_background_started{false};  // and the threads were started
}  // namespace

// One-time set-up a program's first lock or first new edge would otherwise pay while it holds
// a lock (issue 14: a 1 ms pause there lines up the threads of a dining-philosophers program
// into its deadlock): the unwinder's caches, the stack depot, and this thread's state. Run from
// the host's constructor, where the program holds nothing.
void WarmUp() {
  {
    Inside inside;
    arena::WarmUp(4096);
    WarmUpUnwinder();
    E().lock_order.Reserve();
  }
  // This thread's state, resident: its caches are hashed, so each new lock or context would
  // otherwise fault in a page of its own (id_cache, edge_salt, edge_cache: 60 pages; 10-12 us
  // per fault in some virtual machines against under 1 us per page populated here at once).
  // The per-lock histograms after them stay lazy (they are most of the state's 580 KB).
  if (ThreadState* ts = ThisThread()) {
    arena::PrefaultPages(ts, static_cast<size_t>(reinterpret_cast<char*>(&ts->lock_hist[0]) -
                                                 reinterpret_cast<char*>(ts)));
  }
}

void StartBackground(bool lazy) noexcept {
  EnsureInitialized();
  if (g_status.load(std::memory_order_acquire) != static_cast<int>(EngineStatus::kReady)) return;
  WarmUp();
  {
    Inside inside;
    static_data::Refresh();  // here, in a constructor: never on a lock path (see static_data.h)
  }
  AcceptSymbolizerJobs();  // edge lines queue up until the thread runs (or run at exit)
  g_background_allowed.store(true, std::memory_order_release);
  // Metrics run an exporter thread anyway: nothing to keep single-threaded.
  if (!lazy || E().opts.prometheus[0] != '\0') NeedBackground();
}

void NeedBackground() noexcept {
  if (LOCKAUDIT_PREDICT_TRUE(g_background_started.load(std::memory_order_relaxed))) return;
  if (!g_background_allowed.load(std::memory_order_acquire)) return;
  if (g_background_started.exchange(true)) return;
  wake::AllowBackground();
  StartSymbolizerThread();
  wake::EnsureWatchdog();
}

void NonblockingBegin() noexcept {
  if (ThreadState* ts = ThisThread()) ++ts->nonblocking_depth;
}

void NonblockingEnd() noexcept {
  if (ThreadState* ts = ThisThread(); ts != nullptr && ts->nonblocking_depth > 0) --ts->nonblocking_depth;
}

void OnFutexWait(ThreadState& ts, const void* addr, Site site) noexcept {
  wake::FutexWait(ts, addr, site);
}

void SetThreadName(const char* name) noexcept {
  ThreadState* ts = ThisThread();
  if (ts == nullptr || name == nullptr) return;
  snprintf(ts->name, sizeof ts->name, "%s", name);
}

void SetThreadNameOf(uintptr_t pthread_id, const char* name) noexcept {
  if (g_status.load() != static_cast<int>(EngineStatus::kReady) || name == nullptr) return;
  for (ThreadState* t = E().threads.load(); t; t = t->next) {
    if (t->in_use.load() && t->pthread_id == pthread_id) {
      snprintf(t->name, sizeof t->name, "%s", name);  // racy with that thread's reports: benign
      return;
    }
  }
}

ThreadBirth OnThreadCreate() noexcept {
  ThreadState* ts = ThisThread();
  if (ts == nullptr) return ThreadBirth{};
  Inside inside;
  const lineage::Birth b = lineage::OnCreate(static_cast<uint32_t>(ts->incarnation), ts->tid);
  return ThreadBirth{b.creator, b.creator_tid, b.clock};
}

void OnThreadStart(ThreadBirth birth) noexcept {
  ThreadState* ts = ThisThread();
  if (ts == nullptr || birth.clock == 0) return;
  Inside inside;
  lineage::OnStart(static_cast<uint32_t>(ts->incarnation), ts->tid,
                   lineage::Birth{birth.creator, birth.creator_tid, birth.clock});
}

void OnThreadCreated(uintptr_t pthread_id, ThreadBirth birth) noexcept {
  if (ThisThread() == nullptr || birth.clock == 0) return;
  Inside inside;
  lineage::OnCreated(pthread_id, lineage::Birth{birth.creator, birth.creator_tid, birth.clock});
}

uint32_t ThreadToJoin(uintptr_t pthread_id) noexcept {
  if (ThisThread() == nullptr) return 0;
  Inside inside;
  return lineage::Unjoined(pthread_id);
}

namespace {
long RawMembarrier(int cmd) noexcept {
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "0"(static_cast<long>(SYS_membarrier)), "D"(static_cast<long>(cmd)),
                     "S"(0L), "d"(0L)
                   : "rcx", "r11", "memory");
  return ret;
#else
  (void)cmd;
  return -1;  // every scope keeps pthread_setcancelstate
#endif
}
}  // namespace

bool EnableLightCancelScopes() noexcept {
  if (RawMembarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return false;
  g_light_retire.store(true, std::memory_order_seq_cst);  // FlushCacheEntry's handshake too
  uint8_t expected = kHeavyScopes;  // not after a cancel
  return g_cancel_mode.compare_exchange_strong(expected, kLightScopes, std::memory_order_seq_cst);
}

void BeforeCancel(uintptr_t target) noexcept {
  if (g_cancel_mode.exchange(kCancelSeen, std::memory_order_seq_cst) == kLightScopes) {
    // Every thread of the process runs a full barrier: a scope that raised its count before it
    // saw the mode change has its count visible below.
    if (RawMembarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
      RawMembarrier(MEMBARRIER_CMD_GLOBAL);  // slower, needs no registration
    }
  }
  if (!internal::EngineReady()) return;
  for (ThreadState* t = E().threads.load(std::memory_order_acquire); t != nullptr; t = t->next) {
    if (!t->in_use.load(std::memory_order_acquire) ||
        __atomic_load_n(&t->pthread_id, __ATOMIC_RELAXED) != target) {
      continue;
    }
    // Engine scopes are short (a report written, a stack symbolized): wait for its open ones to
    // end, at most 2 s (a thread stopped inside one, say by a signal handler that never returns).
    if (t->light_scopes.load(std::memory_order_acquire) == 0) return;
    int saved_cancel = 0;  // nanosleep is a cancellation point; pthread_cancel is none
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &saved_cancel);
    for (int waited_us = 0; t->light_scopes.load(std::memory_order_acquire) != 0; waited_us += 50) {
      if (waited_us >= 2000000) {
        RawLog("lockaudit: warning: pthread_cancel: the target thread (tid %d) has been inside "
               "lockaudit for 2 s; cancelling it anyway\n", t->tid);
        break;
      }
      timespec d{0, 50000};
      nanosleep(&d, nullptr);
    }
    pthread_setcancelstate(saved_cancel, nullptr);
    return;
  }
}

namespace internal {
// FlushCacheEntry's handshake, reader side (caller holds RetiredMutex).
void BeginRetiredRead() noexcept {
  g_retire_readers.fetch_add(1, std::memory_order_seq_cst);
  if (!g_light_retire.load(std::memory_order_seq_cst)) return;  // every move takes RetiredMutex
  if (RawMembarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
      RawMembarrier(MEMBARRIER_CMD_GLOBAL) != 0) {  // slower, needs no registration
    // No barrier in the other threads (never expected once registered): from now on every move
    // takes RetiredMutex. A move that had already passed its check may not show its raised flag
    // below (no barrier orders it): this one read can count that entry twice or not at all.
    g_light_retire.store(false, std::memory_order_seq_cst);
  }
  // A move is a few dozen stores; a thread stopped inside one (a debugger, SIGSTOP) is waited
  // for at most 1 s, then read as it is (its entry may be counted twice or not at all once).
  for (ThreadState* t = E().threads.load(std::memory_order_acquire); t; t = t->next) {
    for (int waited_us = 0; t->retire_busy.load(std::memory_order_acquire) != 0; waited_us += 20) {
      if (waited_us >= 1000000) break;
      timespec d{0, 20000};
      nanosleep(&d, nullptr);
    }
  }
}
void EndRetiredRead() noexcept { g_retire_readers.fetch_sub(1, std::memory_order_release); }
}  // namespace internal

void OnThreadJoined(uint32_t joined, uintptr_t pthread_id) noexcept {
  ThreadState* ts = ThisThread();
  if (ts == nullptr || joined == 0) return;
  Inside inside;
  lineage::OnJoined(static_cast<uint32_t>(ts->incarnation), ts->tid, joined, pthread_id);
}

void OnThreadExit() noexcept {
  ThreadState* ts = tls_state;
  if (ts == nullptr) return;
  {
    Inside inside;
    for (uint32_t i = 0; i < ts->held_count; ++i) {
      const HeldLock& h = ts->held[i];
      if (!E().registry.IsLive(h.id) ||
          E().registry.Node(h.id).foreign_unlocks.load() != h.foreign_unlocks_at) {
        continue;
      }
      misuse::Report(*ts, FindingKind::kThreadExitHolding, h.id, h.site,
                   "thread '" + std::string(ts->name) + "' (tid " + std::to_string(ts->tid) +
                       ") exited while holding %L; every other thread that wants it will block "
                       "forever",
                   false);
    }
    false_sharing::NoteThread(*ts);
    for (IdCacheEntry& c : ts->id_cache) FlushCacheEntry(*ts, c);
    {
      EngineLock lock(stats::RetiredMutex());
      MergePendingLocked(*ts);  // before in_use goes false: Collect() skips free states
    }
    E().registry.Reclaim(ts->reclaim);  // the locks it freed: their slots and nodes
    wake::FlushThread(*ts);
    profile::FlushThread(*ts);
    churn::FlushThread(*ts);
    wake::BlockEnd(*ts);
    ts->held_count = 0;
    tls_cancel_state = nullptr;
  }
  // Free for another thread only once the scope above has lowered its light_scopes count (the
  // count is written by its owner alone, without an atomic read-modify-write).
  ts->in_use.store(false, std::memory_order_release);
  tls_state = nullptr;
  tls_mode = kGone;
}

// ---- Provider: lock lifetime -------------------------------------------------------------

namespace {
void ForgetNode(NodeId id, void*) {
  Engine& e = E();
  if (e.registry.Node(id).in_graph.load(std::memory_order_seq_cst)) {
    e.lock_order.Forget(id);
  }
  e.registry.Recycle(id);
}
}  // namespace

void OnCreate(const void* lock, LockClass cls, const char* name, int level,
              bool api_managed) noexcept {
  ThreadState* const self = ThisThread();  // (Inside hides it)
  if (self == nullptr && g_status.load() != static_cast<int>(EngineStatus::kReady)) return;
  Inside inside;
  Engine& e = E();
  bool is_new = false;
  NodeId id = e.registry.Lookup(lock);
  if (id != 0 && api_managed) {
    // A new instrumented lock: whatever was registered at this address (a dead stack frame's
    // or a freed object's lock) is gone, with its edges.
    ForgetLock(lock);
    id = 0;
  }
  if (id == 0) {
    id = e.registry.Insert(lock, cls, &is_new, self != nullptr ? &self->claim_note : nullptr);
  }
  if (id == 0) return;
  LockNode& n = e.registry.Node(id);
  if (api_managed) n.api_managed.store(true, std::memory_order_relaxed);
  if (name != nullptr && name[0] != '\0') {
    const char* interned = InternName(name);
    if (interned != nullptr) e.names.SetName(n, interned, NameSource::kExplicit);
  }
  if (level != kNoLevel) {
    SetLevel(n, level);
  } else if (is_new) {
    E().names.ApplyHierarchy(id, name && name[0] ? name : nullptr);
  }
}

void OnDestroy(ThreadState* ts, const void* lock, Site site, bool destroyed) noexcept {
  SignalShield shield;
  if (g_status.load(std::memory_order_acquire) != static_cast<int>(EngineStatus::kReady)) return;
  if (ts != nullptr) {
    for (uint32_t i = ts->held_count; i-- > 0;) {
      if (ts->held[i].addr != lock) continue;
      if (!destroyed) {
        misuse::Report(*ts, FindingKind::kDestroyHeld, ts->held[i].id, site,
                     "%L destroyed while this thread holds it");
      } else {
        RemoveHeld(*ts, i);  // gone: a later unlock of this address is a new lock's business
      }
      break;
    }
  }
  if (!destroyed) return;
  Inside inside;
  if (const NodeId known = E().registry.Find(lock); known != 0) misuse::CheckRwlockUse(known);
  NodeId id = E().registry.Remove(lock);
  if (id != 0) ForgetNode(id, nullptr);
}

void OnInit(const void* lock) noexcept {
  if (g_status.load(std::memory_order_acquire) != static_cast<int>(EngineStatus::kReady)) return;
  if (E().registry.Find(lock) == 0) return;
  Inside inside;
  NodeId id = E().registry.Remove(lock);
  if (id != 0) ForgetNode(id, nullptr);
}

bool MayHoldLocks(const void* begin, size_t size) noexcept {
  if (g_status.load(std::memory_order_relaxed) != static_cast<int>(EngineStatus::kReady)) return false;
  return E().registry.MayContain(begin, size);
}

void OnRangeFreed(const void* begin, size_t size) noexcept {
  // The engine frees its own memory (depot, symbolizer, maps) while holding its locks: never
  // re-enter it then. Engine memory never holds audited locks.
  if (tls_mode == kInside || !MayHoldLocks(begin, size)) return;
  ThreadState* ts = tls_state;  // (Inside hides it)
  Inside inside;
  E().registry.RemoveRange(begin, size, ForgetNode, nullptr, /*recycle_unmarked=*/true,
                           ts != nullptr ? &ts->reclaim : nullptr);
}

void SetLockName(const void* lock, const char* name) noexcept { OnCreate(lock, LockClass::kCustom, name, kNoLevel); }

void SetLockLevel(const void* lock, int level) noexcept {
  OnCreate(lock, LockClass::kCustom, nullptr, level);
}

// ---- Provider: acquisition ---------------------------------------------------------------

void OnAcquired(ThreadState& ts, const void* lock, LockClass cls, uint32_t flags,
                Site site) noexcept {
  SignalShield shield;
  IdCacheEntry* c = CacheLookup(ts, lock, cls, site.pc);
  if (LOCKAUDIT_PREDICT_FALSE(c == nullptr)) return;
  Acquire(ts, *c, lock, cls, flags, site, false);
}

uint64_t BeforeBlock(ThreadState& ts, const void* lock, LockClass cls, uint32_t flags,
                     Site site) noexcept {
  SignalShield shield;
  IdCacheEntry* c = CacheLookup(ts, lock, cls, site.pc);
  if (c == nullptr || IgnoredShimEvent(*c, flags)) return 0;
  ++ts.lock_hist[c - ts.id_cache].contentions;
  if (flags & kShared) ++ts.lock_hist[c - ts.id_cache].shared_contentions;
  // The contention profile's sample: the stack is taken before the wait, not after it (then
  // the thread holds the lock, and every other waiter would wait for the unwind too).
  ts.profile_stack = 0;
  if (const uint32_t rate = profile::Rate(); rate != 0 && ++ts.profile_tick >= rate) {
    ts.profile_tick = 0;
    Inside inside;
    ts.profile_stack = WaitStackOf(ts, site);
    ts.profile_holder = profile::HolderSite(ts, c->id);
  }
  // Published first: the checks below may take a while (a first report symbolizes), and the
  // watchdog must see this thread as waiting, not as holding its locks for no reason.
  NeedBackground();  // a wait may never end: the watchdog must be there to tell
  const uint64_t now = NowNs();
  wake::BlockBegin(ts, c->id, lock, flags, site, now);
  for (uint32_t i = ts.held_count; i-- > 0;) {
    if (ts.held[i].id == c->id) {
      Reacquire(ts, i, cls, flags, site, true);
      break;
    }
  }
  if (ts.held_count != 0 && !(flags & kTry)) PreAcquireChecks(ts, c->id, flags, site, true);
  return now;
}

uint64_t BlockCheckAt(ThreadState& ts, uint64_t token) noexcept {
  if (token == 0 || !(ts.wait_seq.load(std::memory_order_relaxed) & 1)) return 0;
  for (uint32_t i = 0; i < ts.held_count; ++i) {
    if (ts.held[i].addr == ts.wait_lock) return 0;  // a re-lock: the real call decides alone
  }
  return token + wake::FirstCheckDelayNs();
}

void OnStillBlocked(ThreadState& ts) noexcept { wake::StillBlocked(ts); }

void AfterBlock(ThreadState& ts, const void* lock, LockClass cls, uint32_t flags, Site site,
                uint64_t token, bool acquired) noexcept {
  SignalShield shield;
  IdCacheEntry* c = CacheLookup(ts, lock, cls, site.pc);
  // An ignored event is an instrumented type's own std:: call under the shim, made inside the
  // type's own (published) wait: that wait is not over.
  if (c != nullptr && IgnoredShimEvent(*c, flags)) return;
  wake::BlockEnd(ts);
  if (c == nullptr) return;
  if (token != 0) {
    const uint64_t waited = NowNs() - token;
    ts.lock_hist[c - ts.id_cache].wait_ns += waited;
    stats::ShardObserve(ts.lock_hist[c - ts.id_cache].wait, waited);
    ts.lock_hist[c - ts.id_cache].observed = true;
    if (ts.profile_stack != 0) {
      Inside inside;
      profile::Record(ts, c->id, ts.profile_stack, ts.profile_holder, waited);
    }
  }
  ts.profile_stack = 0;
  ts.profile_holder = 0;
  if (acquired) Acquire(ts, *c, lock, cls, flags, site, true);
}

namespace {
LOCKAUDIT_COLD void UnlockNotHeld(ThreadState& ts, const void* lock, Site site, uint32_t flags) {
  if (ts.waiting_cond_mutex == lock) {  // the cleanup of a cancelled wait (see ThreadState)
    ts.waiting_cond_mutex = nullptr;
    return;
  }
  // Under the shim, an instrumented type's own std:: unlock arrives after the type reported the
  // release: recognised from this thread's cache, else from the registry.
  const IdCacheEntry& c = ts.id_cache[CacheSlot(lock)];
  if ((flags & kFromShim) && c.addr == reinterpret_cast<uintptr_t>(lock) && c.node != nullptr &&
      c.node->generation.load(std::memory_order_acquire) == GenerationOf(c.id) &&
      c.node->api_managed.load(std::memory_order_relaxed)) {
    return;
  }
  NodeId id = E().registry.Find(lock);
  if (id == 0) return;  // never seen locked: nothing to say
  if ((flags & kFromShim) && E().registry.Node(id).api_managed.load(std::memory_order_relaxed)) {
    return;
  }
  E().registry.Node(id).foreign_unlocks.fetch_add(1, std::memory_order_relaxed);
  Inside inside;  // the message below is built from the engine's arena
  misuse::Report(ts, FindingKind::kUnlockNotHeld, id, site,
               "%L released by thread '" + std::string(ts.name) + "' (tid " +
                   std::to_string(ts.tid) + "), which does not hold it");
}
}  // namespace

void OnReleased(ThreadState& ts, const void* lock, Site site, uint32_t flags) noexcept {
  SignalShield shield;
  for (uint32_t i = ts.held_count; i-- > 0;) {
    HeldLock& h = ts.held[i];
    if (h.addr != lock) continue;
    // Under the shim, an instrumented type's own std:: unlock: the type reports the release.
    if ((flags & kFromShim) && !(h.flags & kFromShim)) return;
    if (h.recursion != 0) {
      --h.recursion;
      return;
    }
    if (LOCKAUDIT_PREDICT_FALSE(h.flags & kHoldTimed)) {
      uint64_t held_ns = NowNs() - h.hold_start_ns;
      const size_t slot = CacheSlot(h.addr);
      if (ts.id_cache[slot].id == h.id) {
        LockHist& lh = ts.lock_hist[slot];
        lh.hold_ns += held_ns;  // the sampled sum: scaled to all holds when read (StatsForId)
        ++lh.hold_samples;
        stats::ShardObserve(lh.hold, held_ns);
        lh.observed = true;
      }
    }
    if (i + 1 == ts.held_count) {
      --ts.held_count;
      ts.last_released = &ts.held[ts.held_count];
    } else {
      RemoveHeld(ts, i);
    }
    return;
  }
  UnlockNotHeld(ts, lock, site, flags);
}

// ---- Provider: condition variables -------------------------------------------------------

bool OnCondWaitBegin(ThreadState& ts, const void* cond, const void* mutex, Site site,
                     uint32_t flags) noexcept {
  SignalShield shield;
  NeedBackground();
  bool held = false;
  for (uint32_t i = ts.held_count; i > 0 && !held; --i) held = ts.held[i - 1].addr == mutex;
  if (!held) return false;
  OnReleased(ts, mutex, site, flags);
  ts.last_released = nullptr;  // the wait's own re-acquisition is not churn
  ts.waiting_cond_mutex = mutex;
  wake::CondWaitBegin(ts, cond, mutex, site);
  return true;
}

void OnCondWaitEnd(ThreadState& ts, const void* cond, const void* mutex, LockClass cls,
                   uint32_t flags, Site site) noexcept {
  SignalShield shield;
  wake::CondWaitEnd(ts, cond);
  // Re-acquiring after a wait is a blocking acquisition: edges from other held locks are real.
  ts.waiting_cond_mutex = nullptr;
  IdCacheEntry* c = CacheLookup(ts, mutex, cls, site.pc);
  if (c == nullptr) return;
  const uint32_t before = ts.held_count;
  Acquire(ts, *c, mutex, cls, flags & kFromShim, site, false);
  if (ts.held_count == before + 1 && ts.held[before].addr == mutex) {
    ts.held[before].flags |= kCondReacquired;
  }
}

void OnCondSignal(const void* cond, bool) noexcept {
  if (g_status.load(std::memory_order_relaxed) == static_cast<int>(EngineStatus::kReady)) {
    wake::CondSignal(cond);
  }
}
void OnCondDestroy(const void* cond) noexcept {
  if (g_status.load(std::memory_order_relaxed) == static_cast<int>(EngineStatus::kReady)) {
    wake::CondDestroy(cond);
  }
}

// ---- Provider: fork ----------------------------------------------------------------------

// The engine's mutexes, taken across fork() so that the child inherits consistent tables.
// Taken by trying each in turn and starting again after any miss (with a short sleep): no
// order among them is assumed, so the prefork handler can never deadlock with a thread that
// takes two of them in another order (a symbolizing report does). Released in reverse.
EngineMutex* const* ForkMutexes(size_t* count) {
  static EngineMutex* list[10];
  size_t n = 0;
  list[n++] = &E().lock_order.mutex();
  list[n++] = &E().dedupe_mu;
  list[n++] = &E().registry.mutex();
  list[n++] = &E().threads_mu;
  list[n++] = &ReportMutex();
  list[n++] = &E().evidence_mu;
  list[n++] = &E().names.site_names_mutex();
  list[n++] = &StacksDepotMutex();
  list[n++] = &stats::RetiredMutex();  // (the symbolizer's: see ForkPrepare)
  *count = n;
  return list;
}

__thread bool tls_fork_locked __attribute__((tls_model("initial-exec"))) = false;
__thread bool tls_fork_symbolizer_locked __attribute__((tls_model("initial-exec"))) = false;

// (Outside the thread-safety analysis: it takes a list of mutexes that ForkParent or ForkChild
// releases.)
void ForkPrepare() noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
  if (g_status.load() != static_cast<int>(EngineStatus::kReady)) return;
  Inside inside;
  size_t n = 0;
  EngineMutex* const* mus = ForkMutexes(&n);
  // Before any lock is taken: the first call creates the symbolizer (from the arena).
  EngineMutex& symbolizer_mu = StacksSymbolizerMutex();
  for (uint32_t attempt = 0;; ++attempt) {
    size_t got = 0;
    while (got < n && mus[got]->try_lock()) ++got;
    if (got == n) {
      // No thread left in the lock-order detector's shared mode, which takes no mutex of the
      // list (its threads may wait for the arena, so this comes before the arena's lock).
      if (E().lock_order.ForkPrepared()) {
        if (arena::TryLockForFork()) {
          // And no thread inside the unwinder (whose mutex the child could inherit held).
          if (StacksTryPrepareFork()) break;
          arena::ParentAfterFork();
        }
        E().lock_order.ForkParent();
      }
    }
    while (got > 0) mus[--got]->unlock();
    if (attempt < 16) {
      sched_yield();
    } else {
      timespec d{0, 50000};  // 50 us
      nanosleep(&d, nullptr);
    }
  }
  tls_fork_locked = true;
  // The symbolizer's mutex is held by its thread while libdw runs, and libdw may be waiting for
  // an allocator lock that the allocator's own fork handler (jemalloc's, tcmalloc's) has just
  // taken on this thread: waiting for it could never end. A bounded try, then: when it fails,
  // the child starts a symbolizer of its own (StacksResetAfterFork) instead of the one that was
  // mid-lookup when the parent forked.
  tls_fork_symbolizer_locked = false;
  for (int attempt = 0; attempt < 200; ++attempt) {  // about 20 ms
    if (symbolizer_mu.try_lock()) {
      tls_fork_symbolizer_locked = true;
      break;
    }
    timespec d{0, 100000};
    nanosleep(&d, nullptr);
  }
}

void ForkParent() noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
  if (g_status.load() != static_cast<int>(EngineStatus::kReady) || !tls_fork_locked) return;
  tls_fork_locked = false;
  if (tls_fork_symbolizer_locked) StacksSymbolizerMutex().unlock();
  StacksAfterFork(false);
  arena::ParentAfterFork();
  E().lock_order.ForkParent();
  size_t n = 0;
  EngineMutex* const* mus = ForkMutexes(&n);
  while (n > 0) mus[--n]->unlock();
}


void ForkChild() noexcept {
  if (g_status.load() != static_cast<int>(EngineStatus::kReady)) return;
  tls_fork_locked = false;
  arena::ChildAfterFork();
  ForgetEngineTasksAfterFork();
  Engine& e = E();
  ReportChildAfterFork();
  lineage::ResetAfterFork();
  profile::ResetAfterFork();
  static_data::ResetAfterFork();
  KeyNamesResetAfterFork();
  churn::ResetAfterFork();
  false_sharing::ResetAfterFork();
  channel::ResetAfterFork();
  confirm::ForkChild();
  e.threads_mu.ResetAfterFork();
  e.registry.ResetAfterFork();
  e.lock_order.ResetAfterFork();
  e.dedupe_mu.ResetAfterFork();
  e.evidence_mu.ResetAfterFork();
  e.names.ResetAfterFork();
  StacksResetAfterFork(!tls_fork_symbolizer_locked);
  StacksAfterFork(true);
  stats::StatsResetAfterFork();
  wake::ForkChild();
  // Only the forking thread survives: every other state is free again.
  for (ThreadState* t = e.threads.load(); t; t = t->next) {
    if (t != tls_state) {
      t->held_count = 0;
      t->light_scopes.store(0, std::memory_order_relaxed);  // its scopes ended with its thread
      t->retire_busy.store(0, std::memory_order_relaxed);   // and its moves (FlushCacheEntry)
      // and its rebirth of a freed lock's node (the node keeps what the reset had reached)
      e.registry.ClearClaimAfterFork(t->claim_note.load(std::memory_order_relaxed));
      t->claim_note.store(0, std::memory_order_relaxed);
      t->in_use.store(false);
    }
  }
  if (tls_state) tls_state->tid = GetTid();
  // A membarrier registration belongs to an address space: the child's is new (EnterCancelScope).
  const bool light = g_cancel_mode.load(std::memory_order_relaxed) == kLightScopes ||
                     g_light_retire.load(std::memory_order_relaxed);
  if (light && RawMembarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) {
    // One thread: no race.
    if (g_cancel_mode.load(std::memory_order_relaxed) == kLightScopes) {
      g_cancel_mode.store(kHeavyScopes, std::memory_order_relaxed);
    }
    g_light_retire.store(false, std::memory_order_relaxed);
  }
}

// ---- Whole engine ------------------------------------------------------------------------

int Finish() noexcept {
  if (g_status.load() != static_cast<int>(EngineStatus::kReady)) return -1;
  Engine& e = E();
  if (e.finished.exchange(true)) return -1;
  wake::Stop();
  Inside inside;
  DrainSymbolizerThread(5'000'000'000);  // the edge lines still queued go before the summary
  SummaryCounts c{};
  c.locks = e.registry.EverRegistered();
  {
    const LockOrder::Counts counts = e.lock_order.GetCounts();
    c.edges = counts.edges_learned;
    c.edge_lines_dropped = counts.edge_lines_dropped;
  }
  for (ThreadState* t = e.threads.load(); t; t = t->next) {
    for (uint32_t i = 0; i < ThreadState::kIdCacheSize; ++i) {
      c.acquisitions += t->id_cache[i].acquisitions;
      c.contentions += t->lock_hist[i].contentions;
    }
    c.acquisitions += t->total_acquisitions.load(std::memory_order_relaxed);
    c.contentions += t->total_contentions.load(std::memory_order_relaxed);
  }
  profile::WriteLines();
  stats::WriteReportLines();
  churn::Report([](NodeId id) { return StatsForId(id).acquisitions; });
  misuse::CheckLiveRwlocks();
  false_sharing::Report();
  channel::ReportAtExit();
  channel::Totals(&c.channels, &c.channel_items);
  WriteSummary(c);
  const uint64_t counted = FindingCount() - (e.opts.count_ordered ? 0 : OrderedCount());
  if (counted > 0 && e.opts.exitcode >= 0) return static_cast<int>(e.opts.exitcode);
  return -1;
}

// ---- Queries -----------------------------------------------------------------------------

size_t LoadHierarchy(const char* path) { return E().names.LoadHierarchy(path); }
uint64_t EdgeLinesPosted() { return g_edge_lines_posted.load(std::memory_order_relaxed); }

std::string LockName(NodeId id) {
  Inside inside;
  return NameOf(id);
}

NodeId IdOf(const void* lock) {
  if (g_status.load() != static_cast<int>(EngineStatus::kReady)) return 0;
  return E().registry.Find(lock);
}

bool IsHeldByCurrentThread(const void* lock) {
  ThreadState* ts = tls_state;
  if (ts == nullptr) return false;
  for (uint32_t i = 0; i < ts->held_count; ++i) {
    if (ts->held[i].addr == lock) return true;
  }
  return false;
}

GraphSnapshot SnapshotGraph() {
  GraphSnapshot g;
  if (g_status.load() != static_cast<int>(EngineStatus::kReady)) return g;
  Inside inside;
  std::set<NodeId> nodes;
  {
    E().lock_order.ForEachEdge([&](const EdgeRecord& r) {
      g.edges.push_back({r.from, r.to});
      nodes.insert(r.from);
      nodes.insert(r.to);
    });
  }
  for (NodeId id : nodes) g.nodes.push_back(LockOf(id));
  return g;
}

std::vector<LatentViolation> VerifyHierarchy() {
  std::vector<LatentViolation> out;
  if (g_status.load() != static_cast<int>(EngineStatus::kReady)) return out;
  Inside inside;
  std::vector<std::pair<NodeId, NodeId>> bad;
  {
    E().lock_order.ForEachEdge([&](const EdgeRecord& r) {
      if (!E().registry.IsLive(r.from) || !E().registry.IsLive(r.to)) return;
      int a = E().registry.Node(r.from).level.load(), b = E().registry.Node(r.to).level.load();
      if (a != kNoLevel && b != kNoLevel && a >= b) bad.push_back({r.from, r.to});
    });
  }
  for (const auto& [a, b] : bad) out.push_back({LockOf(a), LockOf(b)});
  return out;
}


}  // namespace lockaudit::core

// ---- Engine internals for core/wake -------------------------------------------------------

namespace lockaudit::core::internal {

uint64_t NowNs() { return lockaudit::core::NowNs(); }
bool EngineReady() {
  return g_status.load(std::memory_order_acquire) == static_cast<int>(EngineStatus::kReady);
}
bool EngineFinished() { return E().finished.load(std::memory_order_acquire); }
ReportLock LockOfId(NodeId id) { return LockOf(id); }
ReportThread ThreadOfState(const ThreadState& ts) { return ThreadOf(ts); }
StackId CaptureStack(uintptr_t start_pc) { return CurrentStack(start_pc); }
bool IsLiveLock(NodeId id) { return E().registry.IsLive(id); }
uintptr_t LockFirstSite(NodeId id) {
  return E().registry.IsLive(id)
             ? E().registry.Node(id).first_site_pc.load(std::memory_order_relaxed)
             : 0;
}
bool FirstReport(FindingKind kind, uint64_t a, uint64_t b) { return ReportOnce(kind, a, b); }
ThreadState* ThreadList() { return E().threads.load(std::memory_order_acquire); }
LockRegistry& Registry() { return E().registry; }
size_t LiveEdges() { return E().lock_order.GetCounts().live_edges; }
void VisitThreads(void (*fn)(ThreadState& ts, void* arg), void* arg) {
  EngineLock lock(E().threads_mu);
  for (ThreadState* t = E().threads.load(std::memory_order_acquire); t; t = t->next) {
    if (t->in_use.load(std::memory_order_acquire)) fn(*t, arg);
  }
}
bool TryVisitThreads(void (*fn)(ThreadState& ts, void* arg), void* arg) {
  if (!E().threads_mu.try_lock()) return false;
  for (ThreadState* t = E().threads.load(std::memory_order_acquire); t; t = t->next) {
    if (t->in_use.load(std::memory_order_acquire)) fn(*t, arg);
  }
  E().threads_mu.unlock();
  return true;
}

}  // namespace lockaudit::core::internal

// ---- Provider: GPU and dispatch ----------------------------------------------------------

namespace lockaudit::core {

void OnGpuSyncBegin(ThreadState& ts, const char* api, Site site) noexcept {
  if (ts.held_count == 0 || api == nullptr) return;
  Inside inside;
  const HeldLock& inner = ts.held[ts.held_count - 1];
  if (!E().registry.IsLive(inner.id) ||
      !ReportOnce(FindingKind::kGpuSyncUnderLock, inner.id, Mix64(reinterpret_cast<uintptr_t>(api)))) {
    return;
  }
  Finding f;
  f.kind = FindingKind::kGpuSyncUnderLock;
  std::string names;
  for (uint32_t i = ts.held_count; i-- > 0;) {
    if (!E().registry.IsLive(ts.held[i].id)) continue;
    f.locks.push_back(LockOf(ts.held[i].id));
    names += (names.empty() ? "'" : ", '") + f.locks.back().name + "'";
  }
  f.threads.push_back(ThreadOf(ts));
  f.stack = CurrentStack(site.pc);
  f.message = std::string(api) + " called while holding " + names +
              ": every thread that wants " + (f.locks.size() > 1 ? "them" : "it") +
              " waits for the GPU to finish";
  Publish(std::move(f));
}

// ---- Provider: blocking calls under a lock ------------------------------------------------

namespace {
std::string DurationText(uint64_t ns) {
  char buf[48];
  if (ns < 1000000) {
    snprintf(buf, sizeof buf, "%.1f us", static_cast<double>(ns) / 1e3);
  } else if (ns < 10000000000ULL) {
    snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
  } else {
    snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ns) / 1e9);
  }
  return buf;
}
}  // namespace

uint64_t OnBlockingCallBegin(ThreadState& ts) noexcept {
  return ts.held_count != 0 ? NowNs() | 1 : 0;
}

void OnBlockingCallEnd(ThreadState& ts, const char* call, Site site, uint64_t token) noexcept {
  if (token == 0 || ts.held_count == 0) return;
  const uint64_t ns = NowNs() - token;
  Inside inside;
  stats::RecordBlockingUnderLock(call, ns);
  uint32_t inner = ts.held_count;
  while (inner-- > 0 && !E().registry.IsLive(ts.held[inner].id)) {
  }
  if (inner == UINT32_MAX) return;  // (only dead locks held)
  const HeldLock& h = ts.held[inner];
  if (!ReportOnce(FindingKind::kBlockingUnderLock, h.id, Mix64(site.pc))) return;
  Finding f;
  f.kind = FindingKind::kBlockingUnderLock;
  f.locks.push_back(LockOf(h.id));
  std::string others;
  for (uint32_t i = inner; i-- > 0;) {
    if (!E().registry.IsLive(ts.held[i].id)) continue;
    f.locks.push_back(LockOf(ts.held[i].id));
    others += (others.empty() ? "" : ", ") + ("'" + f.locks.back().name + "'");
  }
  f.threads.push_back(ThreadOf(ts));
  CaptureWithHeld(site.pc, h.site.pc, h.site.cfa, static_cast<size_t>(E().opts.stack_depth),
                  &f.stack, &f.held_stack);
  f.message = std::string(call) + " called while holding '" + f.locks[0].name + "'" +
              (others.empty() ? "" : " (and " + others + ")") + ", it took " + DurationText(ns) +
              " this time: every thread that wants " + (f.locks.size() > 1 ? "them" : "it") +
              " waits as long as " + call + " blocks; release the lock before the call";
  Publish(std::move(f));
}

void OnGpuSyncEnd(ThreadState& ts, const char* api, uint64_t duration_ns) noexcept {
  const bool under_lock = ts.held_count != 0;
  for (uint32_t i = 0; i < ts.held_count; ++i) {
    const HeldLock& h = ts.held[i];
    const size_t slot = CacheSlot(h.addr);
    if (ts.id_cache[slot].id == h.id) stats::Bump(ts.lock_hist[slot].gpu_sync_ns, duration_ns);
  }
  Inside inside;
  stats::RecordGpuSync(api, under_lock, duration_ns);
}

void OnGpuActivity(const char* name, uint64_t duration_ns) noexcept {
  if (g_status.load(std::memory_order_acquire) != static_cast<int>(EngineStatus::kReady)) return;
  Inside inside;
  stats::RecordGpuActivity(name, duration_ns);
}

void OnDispatch(bool to_gpu) noexcept { stats::RecordDispatch(to_gpu); }

}  // namespace lockaudit::core
