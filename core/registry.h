// LockRegistry maps lock addresses to LockNodes. A NodeId packs (generation << 32 | index):
// destroying a lock bumps its slot's generation, so an id cached by any thread never aliases a
// newer lock that reuses the address or the slot.
//
// Thread-safety: Lookup() and Node() are lock-free (relaxed/acquire reads only); Insert/Remove
// take the registry's EngineMutex, except a free with a ReclaimList and the rebirth of its locks
// (one CAS each on the node: its generation to kill, its address to claim). A Lookup racing
// with Remove may return a stale id; callers validate with IsLive(), which is exact once the
// remover's generation bump is visible. A slot names its node by index; the node's generation
// and address say whether it is the live lock there.
// Invariants: an address appears at most once in the index; a live node's addr matches its slot.
// Cost: Lookup is one hash probe sequence; memory is ~96 bytes per live lock plus 16 bytes per
// index slot (the index is reserved virtual memory, touched as it fills).
#ifndef LOCKAUDIT_CORE_REGISTRY_H_
#define LOCKAUDIT_CORE_REGISTRY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "engine_mutex.h"
#include "provider.h"

namespace lockaudit::core {

using NodeId = uint64_t;  // 0 = none
inline uint32_t IndexOf(NodeId id) { return static_cast<uint32_t>(id); }
inline uint32_t GenerationOf(NodeId id) { return static_cast<uint32_t>(id >> 32); }
inline NodeId MakeNodeId(uint32_t gen, uint32_t index) {
  return (static_cast<uint64_t>(gen) << 32) | index;
}

// Name sources, in rising priority (DESIGN.md §2).
enum class NameSource : uint8_t { kNone = 0, kFirstSite = 1, kSymbol = 2, kExplicit = 3 };

// True once any lock has had a hierarchy level: until then the fast path skips every level
// check (all levels are kNoLevel). Set by SetLevel, never cleared; read with a relaxed load.
extern std::atomic<bool> g_levels_in_use;

struct LockNode {
  // Read on every acquisition: kept together in the node's first 16 bytes. level and
  // foreign_unlocks are adjacent, in this order, 8-aligned: a held entry copies them with one
  // 64-bit load (hot_path.h, LevelAndForeign).
  std::atomic<uint32_t> generation{0};  // odd while live
  std::atomic<bool> api_managed{false};       // an instrumented type: ignore kFromShim events
  std::atomic<bool> in_graph{false};
  LockClass cls = LockClass::kMutex;
  NameSource name_source = NameSource::kNone;
  std::atomic<int> level{kNoLevel};
  std::atomic<uint32_t> foreign_unlocks{0};  // unlocks by a thread that did not hold it
  std::atomic<uintptr_t> addr{0};
  std::atomic<const char*> name{nullptr};  // interned, engine-owned; set under the registry mutex
  // Which lock of that name this is (1 = the first one named so; reports print "name#k" for
  // k > 1): set with `name`, before it.
  std::atomic<uint32_t> name_ordinal{0};
  std::atomic<uintptr_t> first_site_pc{0};
  // A lock on its owner thread's stack: the frame that holds it, identified by the frame's CFA
  // and the return address stored just below it (0 when not on a stack, or not known).
  std::atomic<uintptr_t> stack_owner_cfa{0};
  std::atomic<uintptr_t> stack_owner_ret{0};          // has (had) lock-order edges: destroy must clean up
  // Statistics retired from thread caches (summed with the live caches on read).
  std::atomic<uint64_t> acquisitions{0};
  std::atomic<uint64_t> contentions{0};
  std::atomic<uint64_t> wait_ns{0};
  std::atomic<uint64_t> hold_ns{0};  // sum of the sampled holds (StatsForId scales it)
  std::atomic<uint64_t> hold_samples{0};
  std::atomic<uint64_t> shared_acquisitions{0};
  std::atomic<uint64_t> shared_contentions{0};
  // The key its statistics are kept under (stats_shards.h), fixed when first needed (0 before) so
  // that every thread's shard of it lands in one row (tracker.cc StatsKeyOf).
  std::atomic<uint64_t> stats_key{0};
  uint32_t next_free = 0;
};

static_assert(offsetof(LockNode, foreign_unlocks) == offsetof(LockNode, level) + 4 &&
                  offsetof(LockNode, level) % 8 == 0 && offsetof(LockNode, foreign_unlocks) < 16,
              "the fields read on every acquisition share one cache line; level and "
              "foreign_unlocks are read as one 64-bit word");

// Locks one thread freed without the registry mutex (RemoveRange with a list): dead at once
// (their generation bumped, so every cached id of them is stale), their index slots and nodes
// given back later, under the mutex, kMax / 2 at a time or when the thread exits (Reclaim). Until
// then a lock made at the same address reuses the node, also without the mutex (Insert). Owned
// by one thread (ThreadState::reclaim).
struct ReclaimList {
  static constexpr uint32_t kMax = 64;
  struct Entry {
    uintptr_t addr;
    uint32_t index;
    uint32_t dead_gen;  // the generation the free gave it (even)
  };
  uint32_t count = 0;
  Entry entries[kMax];
};

class LockRegistry {
 public:
  static constexpr uint32_t kChunkBits = 14;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 256;  // 4M live locks
  // The index of addresses starts at 2^kFirstIndexBits slots (64 KiB, mapped at once) and
  // doubles when 3/4 full, up to 2^kIndexBits (8M slots, 128 MiB): a process reserves address
  // space for the locks it has.
  static constexpr uint32_t kFirstIndexBits = 12;
  static constexpr uint32_t kIndexBits = 23;
  // Nodes whose pages are made resident together (64 KB), as they are first handed out.
  static constexpr uint32_t kNodesAhead = 512;

  LockRegistry();

  // Lock-free. 0 if the address is not registered, or (rarely) while a concurrent removal
  // shifts its slot: callers that must not miss a lock use Find().
  NodeId Lookup(const void* addr) const noexcept;
  // Exact: Lookup(), then the locked probe when it finds nothing.
  NodeId Find(const void* addr) noexcept;
  // Registers the address if needed and returns its id; 0 when the registry is full (warned
  // once). `is_new` tells whether this call created it. A lock freed at this address whose node
  // is not yet reclaimed (ReclaimList) is born again in that node, without the mutex.
  // `claim_note` (the calling thread's, or nullptr) holds the node index while this call has a
  // node's address claimed without the mutex (a fork child clears such claims:
  // ClearClaimAfterFork).
  NodeId Insert(const void* addr, LockClass cls, bool* is_new,
                std::atomic<uint32_t>* claim_note = nullptr) noexcept;
  // Unregisters the lock and kills its id (0 if unknown). The node slot is NOT reused until
  // Recycle(id): the caller first removes the lock's graph edges.
  NodeId Remove(const void* addr) noexcept;
  void Recycle(NodeId id) noexcept;
  // Unregisters every lock in [begin, begin+size); calls `on_removed(id, ctx)` for each (the
  // callback must Recycle() it), without the registry mutex. `recycle_unmarked`: locks never
  // marked in_graph are recycled at once instead (no callback), under the same hold of the
  // mutex, where the range has few flagged pages (a program that allocates, locks and frees a
  // lock pays one hold, not two). Cost: one probe-cluster scan per
  // 64-byte line of the range's pages that ever held a lock, or, past kMaxProbedPages such pages,
  // one scan of the
  // index (whose removed ids are gathered in a vector: the engine's arena, under the shim).
  // `reclaim` (with `recycle_unmarked`): a range of at most kMaxLockFreePages pages that ever
  // held a lock is first tried without the mutex: its locks outside the lock-order graph die
  // at once and go on the list (their slots and nodes given back by Reclaim); a lock in the graph,
  // a full list or a concurrent removal elsewhere in the index sends the range to the locked walk.
  void RemoveRange(const void* begin, size_t size, void (*on_removed)(NodeId, void*), void* ctx,
                   bool recycle_unmarked = false, ReclaimList* reclaim = nullptr);
  // Gives back the slots and nodes of the list's locks (those not born again meanwhile); empties
  // it. Takes the mutex.
  void Reclaim(ReclaimList& list) noexcept;
  bool MayContain(const void* begin, size_t size) const noexcept;

  LockNode& Node(NodeId id) const noexcept { return NodeAt(IndexOf(id)); }
  LockNode& NodeAt(uint32_t index) const noexcept {
    return chunks_[index >> kChunkBits].load(std::memory_order_acquire)[index & (kChunkSize - 1)];
  }
  bool IsLive(NodeId id) const noexcept {
    return id != 0 && IndexOf(id) < next_index_.load(std::memory_order_acquire) &&
           Node(id).generation.load(std::memory_order_acquire) == GenerationOf(id);
  }
  // IsLive with a seq_cst load: the second half of the in_graph handshake (mark the node
  // in_graph, seq_cst; then this), against a kill (generation CAS, seq_cst; then an in_graph
  // load, seq_cst): one of the two sides sees the other.
  bool IsLiveOrdered(NodeId id) const noexcept {
    return id != 0 && IndexOf(id) < next_index_.load(std::memory_order_acquire) &&
           Node(id).generation.load(std::memory_order_seq_cst) == GenerationOf(id);
  }
  // The node's lock address (without the claim bit an Insert sets while it resets the node).
  static uintptr_t AddressOf(const LockNode& node) noexcept {
    return node.addr.load(std::memory_order_relaxed) & ~kClaimed;
  }
  // Fork child: the thread that held a claim on node `index` (claim_note) is gone; its address
  // is the node's again (the node keeps the generation it had: dead, or live if the reset was
  // done).
  void ClearClaimAfterFork(uint32_t index) noexcept {
    if (index == 0 || index >= next_index_.load(std::memory_order_relaxed)) return;
    LockNode& node = NodeAt(index);
    node.addr.store(node.addr.load(std::memory_order_relaxed) & ~kClaimed,
                    std::memory_order_relaxed);
  }
  // A node's address while an Insert gives it a new life (no user-space address has bit 63;
  // locks may sit at odd addresses, so the low bit cannot serve).
  static constexpr uintptr_t kClaimed = uintptr_t{1} << 63;
  // Live locks, and freed ones not yet reclaimed (at most ReclaimList::kMax per thread).
  uint32_t LiveCount() const noexcept { return live_.load(std::memory_order_relaxed); }
  uint64_t EverRegistered() const noexcept { return registered_.load(std::memory_order_relaxed); }
  uint32_t IndexLimit() const noexcept { return next_index_.load(std::memory_order_acquire); }
  EngineMutex& mutex() noexcept { return mu_; }
  void ResetAfterFork() noexcept { mu_.ResetAfterFork(); }

 private:
  struct Slot {
    std::atomic<uintptr_t> addr{0};  // 0 empty
    std::atomic<uint64_t> id{0};
  };
  static constexpr uint32_t kFilterBits = 1u << 20;

  static uint64_t Mix(uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
  }
  // The index is hashed by 64-byte line: every lock of one line has the same home slot, so the
  // locks of a freed range are found by scanning one probe cluster per line of it (RemoveRange),
  // not by probing every 4-byte address.
  static constexpr uintptr_t kLineBytes = 64;
  static size_t Hash(uintptr_t a) noexcept { return static_cast<size_t>(Mix(a / kLineBytes)); }
  static size_t PageBit(uintptr_t page) noexcept { return Mix(page) & (kFilterBits - 1); }
  bool PageFlagged(uintptr_t page) const noexcept {
    size_t bit = PageBit(page);
    return page_filter_[bit / 64].load(std::memory_order_relaxed) & (uint64_t{1} << (bit % 64));
  }
  // A freed range with more flagged pages than this scans the index instead of probing them.
  static constexpr size_t kMaxProbedPages = 2048;
  static constexpr size_t kMaxLockFreePages = 4;
  Slot* FindSlotLocked(uintptr_t a) noexcept;
  Slot* FindSlotOfLocked(uintptr_t a, uint32_t index) noexcept;
  // Takes the node's address (addr -> 0) so that no Insert can give it a new life, waiting out one
  // that is doing so; false when the address is not the node's (its slot is gone). With
  // `dead_gen`, only while the node still has that generation.
  bool ClaimLocked(LockNode& node, uintptr_t addr, uint32_t dead_gen = 0) noexcept;
  // Empties the slot (backward shift: entries move, shift_seq_ tells lock-free walkers).
  void EraseSlotLocked(Slot* s) noexcept;
  // Takes the slot's lock out of the index and kills it; returns its id when this call killed it
  // (the caller then owns its recycling), 0 when a lock-free free had killed it already.
  NodeId KillAndEraseLocked(Slot* s) noexcept;
  // The lock-free part of RemoveRange: false when the range must be walked under the mutex
  // (locks killed before that stay on the list). In-graph locks it killed go to `forget`.
  bool RemoveRangeLockFree(uintptr_t lo, uintptr_t hi, ReclaimList& list,
                           ReclaimList::Entry* forget, uint32_t* nforget) noexcept;
  NodeId ReviveLockFree(uintptr_t a, LockClass cls, bool* is_new,
                        std::atomic<uint32_t>* claim_note) noexcept;
  void ResetNode(LockNode& node, LockClass cls, uintptr_t a) noexcept;
  // Removes the locks of [lo, hi) that lie in the 64-byte line at `line`, writing their ids to
  // `removed` (room for kLineBytes: one per byte, whatever the locks' alignment), except, with
  // `recycle_unmarked`, those not in_graph, which it recycles; returns how many it wrote.
  size_t RemoveLineLocked(uintptr_t line, uintptr_t lo, uintptr_t hi, NodeId* removed,
                          bool recycle_unmarked) noexcept;
  void RemoveSlotLocked(Slot* s, void (*on_removed)(NodeId, void*), void* ctx) noexcept;

  // One generation of the index. Readers load `index_` once and probe that table; a table
  // replaced by a larger one is kept (never unmapped: a reader may still probe it, and sees
  // there only locks that Lookup's node check then rejects or that Find finds again).
  struct Index {
    size_t mask;
    Index* previous;
    Slot slots[1];  // mask + 1 of them
  };
  static Index* NewIndex(uint32_t bits) noexcept;
  bool GrowLocked() noexcept;  // false when already at kIndexBits or out of memory

  mutable EngineMutex mu_;
  // Odd while an erase under mu_ moves index entries (or the index grows); bumped twice per
  // erase. A lock-free walk of the index that saw it change may have missed an entry.
  std::atomic<uint64_t> shift_seq_{0};
  std::atomic<Index*> index_{nullptr};
  std::atomic<LockNode*> chunks_[kMaxChunks] = {};
  std::atomic<uint32_t> next_index_{1};  // index 0 is never used
  uint32_t free_head_ = 0;
  std::atomic<uint32_t> live_{0};
  std::atomic<uint64_t> registered_{0};
  uint32_t used_slots_ = 0;  // occupied index slots
  std::atomic<uint64_t>* page_filter_ = nullptr;
  bool warned_full_ = false;
};

// Tests only (a seam, never set by the engine): called while ReviveLockFree holds a node's
// claim, so that a test can fork() at that moment from another thread.
extern std::atomic<void (*)()> g_revive_claim_hook;

// Gives the node a hierarchy level (and turns the fast path's level checks on).
inline void SetLevel(LockNode& node, int level) {
  if (level != kNoLevel) g_levels_in_use.store(true, std::memory_order_relaxed);
  node.level.store(level, std::memory_order_relaxed);
}

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_REGISTRY_H_
