// ThreadState: everything the hot path touches, owned by one thread.
//
// Thread-safety: written only by its thread; other threads (statistics readers, the report at
// exit) read the counters with relaxed loads and may see slightly stale values.
// Invariants: held[0..held_count) is in acquisition order; held[i].sig is the XOR of
// HeldKey(entry) over held[0..i] (HeldSig gives the whole set's); held[i].prefix_max_level is the
// max level of held[0..i]; a held lock's statistics are in id_cache[CacheSlot(addr)].
// Cost: ~180 KiB per thread (caches), from engine memory, recycled when the thread exits.
#ifndef LOCKAUDIT_CORE_THREAD_STATE_H_
#define LOCKAUDIT_CORE_THREAD_STATE_H_

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "hash.h"
#include "provider.h"
#include "registry.h"
#include "stacks.h"
#include "stats.h"
#include "stats_shards.h"

namespace lockaudit::core {

// Set in HeldLock::flags (beside the AcquireFlags) when the hold is timed: hold_start_ns is valid.
inline constexpr uint32_t kHoldTimed = 1u << 16;
// Set in HeldLock::flags when the entry is a condition-variable wait's re-acquisition: its site
// is the wait's, not where the hold began, so its release followed by another lock call is not
// lock churn (core/churn.h).
inline constexpr uint32_t kCondReacquired = 1u << 17;

// One held lock. The fast path writes it with seven stores (flags+recursion and
// prefix+foreign_unlocks_at are written as pairs): every store is drained before the next
// atomic instruction of the lock or unlock, so stores, not instructions, set the cost.
struct alignas(64) HeldLock {
  NodeId id;
  const void* addr;
  Site site;
  uint32_t flags;          // AcquireFlags of the acquisition, | kHoldTimed
  uint32_t recursion;      // extra re-locks of a recursive mutex
  int prefix_max_level;    // max level over held[0..this]
  uint32_t foreign_unlocks_at;
  uint64_t sig;            // XOR of HeldKey over held[0..this]
  uint64_t hold_start_ns;  // valid when flags & kHoldTimed
};
static_assert(sizeof(HeldLock) == 64, "one cache line per held entry");

// Direct-mapped cache: lock address -> id, plus this thread's acquisition count for that lock.
// Exactly what the fast path reads, in one cache line; the colder counters are in LockHist.
struct alignas(64) IdCacheEntry {
  uintptr_t addr;
  NodeId id;
  LockNode* node;  // the registry's node for id (validated by its generation)
  // The held-set signature under which this thread last took the lock exclusively with the
  // context already learned (0: none): the same signature again is a known context without a
  // context-cache lookup (hot_path.h, NestedPrefix).
  uint64_t last_sig;
  uint64_t held_key;  // HeldKey(id, kExclusive), precomputed for the fast path
  // For a lock on this thread's stack: its frame's CFA and the return address at CFA-8 when the
  // lock was registered. A different word there means the frame returned: the lock is dead.
  uintptr_t owner_cfa;
  uintptr_t owner_ret;
  uint64_t acquisitions;
};
static_assert(sizeof(IdCacheEntry) == 64, "one cache line per id-cache entry");

// This thread's histograms and colder counters for the lock cached in id_cache[i] (same index):
// written on the contended path (wait), on sampled releases (hold) and by GPU sync events; read
// by Collect() and StatsForId().
struct LockHist {
  uint64_t contentions;
  uint64_t wait_ns;
  uint64_t hold_ns;  // sum of the sampled holds (not scaled)
  uint64_t hold_samples;
  stats::Histogram wait;
  stats::Histogram hold;
  uint64_t gpu_sync_ns;
  uint64_t churn;  // re-acquisitions counted as lock churn (core/churn.h)
  uint64_t shared_acquisitions, shared_contentions;  // read (shared) ones, of a rwlock
  uint64_t key;  // stats retirement key of the cached lock (stats_shards.h), fixed at fill
  // The entry was filled by evicting another lock, and this fill is not the 1 in
  // kHoldSamplePeriod that times its first hold (FillCache): a program cycling through more
  // locks than the cache holds would otherwise time every hold (two clock reads each).
  bool untimed_first_hold;
  // `wait` or `hold` has an observation (set where one is made): the histograms of an entry
  // without one are neither retired nor cleared (FlushCacheEntry).
  bool observed;
};

// This thread's wake-latency shard for one condition variable (direct-mapped by address).
struct CondShard {
  uintptr_t cond;
  uint64_t key;
  stats::Histogram wake;
  uint64_t budget_violations;
};

class ThreadState {
 public:
  static constexpr uint32_t kIdCacheSize = 1024;
  static constexpr uint32_t kEdgeCacheSize = 16384;  // contexts (held set, lock) already learned
  static constexpr uint32_t kInlineHeld = 32;
  // 1 hold in 128 of each lock is timed (the first one after the lock enters the id cache,
  // then every 128th): decided by the lock's acquisition count, so the fast path stores nothing.
  // A lock that enters the cache by evicting another has its first hold timed on 1 fill in 128
  // (LockHist::untimed_first_hold), so the rate holds when a thread cycles through more locks.
  static constexpr uint32_t kHoldSamplePeriod = 128;
  static constexpr uint32_t kCondShards = 64;
  static constexpr uint32_t kMaxSpareHeld = 28;

  HeldLock* held;  // points at inline_held or a grown engine buffer
  // The held entry the last release popped (its slot keeps what it held until the next push
  // there); null after a release that was not the top entry's, a condition-variable wait and a
  // slow-path acquisition. An acquisition that pushes onto that very slot, of the lock the slot
  // still names, takes the lock the thread released last, at the same depth, with nothing
  // taken in between: lock churn when its site differs from the released hold's (core/churn.h).
  const HeldLock* last_released;
  uint32_t held_count;
  uint32_t held_capacity;
  uint32_t tid;
  uint64_t incarnation;  // unique per thread ever audited (tids are reused by the kernel)
  uintptr_t pthread_id;  // pthread_self() of the owner
  uintptr_t stack_lo, stack_hi;  // this thread's stack (0, 0 when unknown)
  char name[32];
  // The mutex of the condition-variable wait in progress. A cancelled wait in C code leaves
  // through a longjmp to its cleanup handler, past the interposer, so the wait never "ends":
  // the cleanup's unlock of this mutex is legitimate, not unlock_not_held.
  const void* waiting_cond_mutex;
  // ---- Published for the watchdog (core/wake) ------------------------------------------
  // wait_seq is odd while the thread is blocked in a lock call (BeforeBlock .. AfterBlock).
  // The wait_* fields are written before it turns odd and stay fixed until it turns even, and
  // the held stack does not change meanwhile: a reader that sees the same odd value before and
  // after reading them has a consistent snapshot.
  std::atomic<uint64_t> wait_seq;
  const void* wait_lock;
  NodeId wait_id;
  uint64_t wait_since_ns;
  uint32_t wait_flags;  // AcquireFlags of the blocked request (kShared: a read request)
  Site wait_site;
  // The stack at which the thread blocked, published by the thread itself once its first
  // deadline passed (0 before): the watchdog cannot unwind another thread.
  std::atomic<StackId> wait_stack;
  // A channel wait in progress (core/channel.h): chan_seq is odd while the thread waits to send
  // on a full channel or to receive from an empty one; the chan_* fields are written before it
  // turns odd and stay fixed until it turns even (the same seqlock reading as wait_seq).
  std::atomic<uint64_t> chan_seq;
  const void* chan_wait;
  uint64_t chan_gen;     // the channel record's generation (records are reused)
  uint32_t chan_dir;     // channel::Dir
  bool chan_timed;       // the wait has a deadline of its own
  uint64_t chan_since_ns;
  Site chan_site;
  std::atomic<StackId> chan_stack;  // published once its first deadline passed (0 before)
  // The channels this thread last registered itself on as a sender / a receiver: an operation on
  // the same channel again skips the peer list.
  const void* chan_peer_cache[2];
  uint64_t chan_peer_gen[2];
  // Grown held buffers are kept until the state is recycled, so that the watchdog's racy reads
  // of `held` never touch unmapped memory.
  HeldLock* spare_held[kMaxSpareHeld];
  uint32_t spare_held_cap[kMaxSpareHeld];
  uint32_t spare_held_count;
  // Contention profile (core/contention_profile.h): contended acquisitions counted for sampling,
  // and the waiter's stack of the sampled wait in progress (0: this wait is not sampled).
  uint32_t profile_tick;
  StackId profile_stack;
  // The sampled wait's holder: the acquisition site of the thread that held the lock when the
  // wait began, as a one-frame (partial) stack (0: no holder found; core/contention_profile.h).
  StackId profile_holder;
  // Holder sites already interned, direct-mapped by pc (a site's one-frame stack never changes).
  static constexpr uint32_t kHolderSiteCache = 8;
  uintptr_t holder_site_pc[kHolderSiteCache];
  StackId holder_site_stack[kHolderSiteCache];
  // The lock-order evidence this thread found last (CaptureEvidence, tracker.cc): stacks by
  // evidence key (call sites, depths and the thread's incarnation), direct-mapped. The engine's
  // shared table behind it needs a mutex; a thread that learns many edges at one code path (a
  // loop over locks) finds its stacks here instead. A key holds the incarnation, so a reused
  // state never matches a dead thread's entries; stack ids are never reused.
  static constexpr uint32_t kEvidenceCache = 64;
  struct EvidenceSlot {
    uint64_t key;
    StackId stack;
  };
  EvidenceSlot evidence_cache[kEvidenceCache];
  // Stacks of recent sampled waits, by call site and depth (site pc, CFA). Reused only when every
  // return address still sits where it was (frame k's pc at its sp - 8): the same call chain,
  // checked in a few loads instead of an unwind, so that sampling does not slow the waiter down
  // (an unwind before each wait acts as a back-off and changes how contended a lock is).
  static constexpr uint32_t kWaitStackCache = 8, kWaitStackFrames = 24;
  struct WaitStack {
    uintptr_t site_pc, site_cfa;
    StackId stack;
    uint32_t n;
    uintptr_t pc[kWaitStackFrames];
    uintptr_t sp[kWaitStackFrames];
  };
  WaitStack wait_stacks[kWaitStackCache];
  // This thread's sums of sampled waits by (lock, stack), direct-mapped; written by the owner
  // only (relaxed stores, stats_shards.h), merged into the engine's table when a slot is taken
  // by another pair, at thread exit, and read at exit (core/contention_profile.h).
  static constexpr uint32_t kWaitSums = 32;
  struct WaitSum {
    NodeId lock;
    StackId stack;
    uint64_t samples, wait_ns, max_ns;
    stats::Histogram wait;
  };
  WaitSum wait_sums[kWaitSums];
  // The same sums by (lock, holder's acquisition site): the waits each holding site caused.
  static constexpr uint32_t kHolderSums = 16;
  WaitSum holder_sums[kHolderSums];
  // Lock churn (core/churn.h) by (lock, site of the released hold, site of the re-acquisition),
  // direct-mapped; written by the owner, merged into the engine's table when a slot is taken by
  // another triple and at thread exit.
  static constexpr uint32_t kChurnSlots = 16;
  static constexpr uint32_t kChurnSamplePeriod = 64;  // fast-path re-acquisitions per sample
  // Set by the fast path when it hands a sampled re-acquisition to the slow path: the weight
  // the slow path records it with (0: a re-acquisition the slow path found itself, weight 1).
  uint32_t churn_weight;
  struct ChurnSlot {
    NodeId lock;
    uintptr_t first_pc, second_pc;
    uint64_t count;
    StackId first_stack, second_stack;  // captured when the slot was filled
  };
  ChurnSlot churn[kChurnSlots];
  // Non-blocking context (DESIGN.md §2) entered through nonblocking_scope (the thread-name
  // globs are checked when the thread blocks).
  uint32_t nonblocking_depth;
  // Condition-variable wait in progress (wake latency).
  const void* waiting_cond;
  uint64_t cond_wait_begin_ns;
  std::atomic<bool> in_use;
  // Engine scopes of this thread open without pthread_setcancelstate (tracker.cc,
  // EnterCancelScope): written by the owner only, read by a thread cancelling it.
  std::atomic<uint32_t> light_scopes;
  // Statistics of evicted id-cache entries on their way to the engine's retired table
  // (tracker.cc FlushCacheEntry): summed here by stats key, owner-written, and merged into the
  // table under stats::RetiredMutex() when kRetiredPendingMax keys are in use and when the
  // thread exits, so that an eviction takes no engine mutex. stats::Collect() reads them with the
  // cache entries. retire_busy: 1 while the owner moves an entry's counts here without
  // RetiredMutex; Collect() waits for 0 (the handshake is in FlushCacheEntry).
  static constexpr uint32_t kRetiredPending = 64;     // slots, open addressing by key
  static constexpr uint32_t kRetiredPendingMax = 48;  // keys in use before a merge
  struct RetiredPending {
    uint64_t key;  // 0: free
    stats::LockShard shard;
  };
  // Locks this thread freed without the registry mutex, their slots and nodes not yet given
  // back (LockRegistry::RemoveRange, Reclaim at thread exit).
  ReclaimList reclaim;
  // The registry node whose address this thread has claimed without the registry mutex (a lock
  // born again in a freed lock's node, LockRegistry::Insert), 0 when none: a fork child gives
  // such a claim back for the threads fork() left behind.
  std::atomic<uint32_t> claim_note;
  std::atomic<uint32_t> retire_busy;
  uint32_t retired_pending_used;
  RetiredPending retired_pending[kRetiredPending];
  ThreadState* next;  // global list, never unlinked (states are recycled)

  // Totals for the summary, including locks evicted from the cache.
  std::atomic<uint64_t> total_acquisitions;
  std::atomic<uint64_t> total_contentions;
  uint32_t evicting_fills;  // id-cache fills that evicted another lock (hold-timing phase)

  IdCacheEntry id_cache[kIdCacheSize];
  // EdgeSalt(HeldKey(id, kExclusive)) of the lock cached in id_cache[i]: the context-cache
  // lookup's salt, read only when the held set differs from the last one (hot_path.h). A dense
  // array, so that its index is the id-cache entry's offset shifted, not a multiply.
  uint64_t edge_salt[kIdCacheSize];
  uint64_t edge_cache[kEdgeCacheSize];  // keys of (held set, lock, mode) contexts already learned
  HeldLock inline_held[kInlineHeld];
  LockHist lock_hist[kIdCacheSize];
  CondShard cond_shard[kCondShards];
};

// The per-thread context key of "acquire the lock with HeldKey `held_key` while holding the set
// with signature `sig`": asymmetric ("hold A, take B" differs from "hold B, take A").
inline uint64_t EdgeSalt(uint64_t held_key) { return Mix64(held_key ^ 0x5bd1e9955bd1e995ULL); }
// One multiply (a bijection of sig + salt, like the full mix it replaces, so two contexts share a
// key exactly when they did before); its well-mixed top bits pick the slot (EdgeCacheSlot).
inline uint64_t EdgeCacheKey(uint64_t sig, uint64_t salt) {
  return ((sig + salt) * 0x9E3779B97F4A7C15ULL) | 1;
}
inline size_t EdgeCacheSlot(uint64_t key) { return key >> (64 - 14); }
static_assert(ThreadState::kEdgeCacheSize == size_t{1} << 14, "EdgeCacheSlot takes 14 bits");

// A held lock's contribution to the held signature (XOR over the held set): one multiply, since
// it is computed on every push. Contexts are mixed where they are looked up (EdgeCacheKey).
inline uint64_t HeldKey(NodeId id, uint32_t flags) {
  return (id * 4 + (flags & kShared) + 1) * 0x9E3779B97F4A7C15ULL;
}

// The signature of the thread's whole held set (0 when nothing is held).
inline uint64_t HeldSig(const ThreadState& ts) {
  return ts.held_count != 0 ? ts.held[ts.held_count - 1].sig : 0;
}

// A relaxed load of a field another thread writes (racy reads of a ThreadState).
template <class T>
T Racy(const T& x) {
  return std::atomic_ref<T>(const_cast<T&>(x)).load(std::memory_order_relaxed);
}

// Calls fn(const HeldLock&) for up to `max` entries of another thread's held set, read racily:
// the capacity before the pointer (a grown buffer is published pointer-first, and old buffers
// stay mapped while the state is in use: the caller holds the thread list's mutex, as
// VisitThreads does), so every entry read lies in mapped memory; an entry's fields may belong to
// different moments. fn returns false to stop.
template <class Fn>
void VisitHeldRacy(const ThreadState& ts, uint32_t max, Fn fn) {
  const uint32_t cap = std::atomic_ref<uint32_t>(const_cast<uint32_t&>(ts.held_capacity))
                           .load(std::memory_order_acquire);
  const HeldLock* held =
      std::atomic_ref<HeldLock*>(const_cast<HeldLock*&>(ts.held)).load(std::memory_order_acquire);
  if (held == nullptr) return;
  const uint32_t n = std::min({Racy(ts.held_count), cap, max});
  for (uint32_t i = 0; i < n; ++i) {
    if (!fn(held[i])) return;
  }
}

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_THREAD_STATE_H_
