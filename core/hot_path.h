// core/hot_path.h: the inline fast paths of OnAcquired/OnReleased (DESIGN.md §7), for the
// front-ends (interposers, wrapper entry points) to call before the out-of-line functions.
//
// Contract: FastAcquire/FastRelease either record exactly what OnAcquired/OnReleased would
// record and return true, or change nothing and return false; the caller then makes the
// out-of-line call. They cover the steady state: a cached, live lock; no re-lock; no hierarchy
// problem; a (held set, lock) context already learned; no hold-time sample due.
// Thread-safety: the calling thread's state only, plus relaxed reads of the lock's node.
// Cost: no call, no shared write, one multiply-free key for exclusive acquisitions.
#ifndef LOCKAUDIT_CORE_HOT_PATH_H_
#define LOCKAUDIT_CORE_HOT_PATH_H_

#include <cstddef>
#include <climits>
#include <cstdint>

#include "native_mutex.h"
#include "provider.h"
#include "thread_state.h"

namespace lockaudit::core {

inline size_t CacheSlot(const void* lock) {
  uintptr_t a = reinterpret_cast<uintptr_t>(lock);
  return ((a >> 3) ^ (a >> 11)) & (ThreadState::kIdCacheSize - 1);
}

// &ts.id_cache[CacheSlot(lock)], computed as a byte offset (the same slot: (a >> 3) << 6 is
// a << 3 and (a >> 11) << 6 is a >> 5 under the mask), two instructions fewer on the fast path.
inline IdCacheEntry& CacheEntry(ThreadState& ts, const void* lock) {
  static_assert(sizeof(IdCacheEntry) == 64);
  uintptr_t a = reinterpret_cast<uintptr_t>(lock);
  const uintptr_t offset = ((a << 3) ^ (a >> 5)) & (uintptr_t{ThreadState::kIdCacheSize - 1} * 64);
  return *reinterpret_cast<IdCacheEntry*>(reinterpret_cast<char*>(ts.id_cache) + offset);
}

// For a lock on the thread's own stack: has the frame that held it returned? (x86-64: the
// return address sits at CFA-8; see RecordStackOwner in tracker.cc.)
inline bool OwnerFrameDead(uintptr_t owner_cfa, uintptr_t owner_ret) {
  return owner_cfa != 0 && *reinterpret_cast<const uintptr_t*>(owner_cfa - 8) != owner_ret;
}

// GenerationOf(c.id), read as the id's high half: compared straight from memory, without
// shifting the id the fast path loads anyway (x86-64 is little-endian).
inline uint32_t CachedGeneration(const IdCacheEntry& c) {
  uint32_t gen;
  __builtin_memcpy(&gen, reinterpret_cast<const char*>(&c.id) + 4, sizeof gen);
  return gen;
}
static_assert(sizeof(NodeId) == 8, "NodeId is generation << 32 | index");

// The node's level (low half) and foreign-unlock count (high half), read as one 64-bit word:
// a held entry's prefix_max_level and foreign_unlocks_at when the lock's own level is the prefix
// (as when no lock has a level). Relaxed, as the two separate loads are.
inline uint64_t LevelAndForeign(const LockNode& node) {
  using Word = uint64_t __attribute__((may_alias));
  return __atomic_load_n(reinterpret_cast<const Word*>(&node.level), __ATOMIC_RELAXED);
}

// Writes two adjacent 32-bit fields of a HeldLock with one 64-bit store (x86-64 is little-endian).
__attribute__((always_inline)) inline void StorePair(void* first, uint32_t lo,
                                                    uint32_t hi) noexcept {
  const uint64_t v = lo | (static_cast<uint64_t>(hi) << 32);
  __builtin_memcpy(first, &v, sizeof v);
}
static_assert(offsetof(HeldLock, recursion) == offsetof(HeldLock, flags) + 4 &&
                  offsetof(HeldLock, flags) % 8 == 0,
              "flags and recursion are written and read as one 64-bit word");
static_assert(offsetof(HeldLock, foreign_unlocks_at) == offsetof(HeldLock, prefix_max_level) + 4 &&
                  offsetof(HeldLock, prefix_max_level) % 8 == 0,
              "prefix_max_level and foreign_unlocks_at are written as one 64-bit word");

// Is this acquisition of the lock cached in `c` due for hold timing? (1 in kHoldSamplePeriod
// acquisitions of each lock, counted by the acquisition counter the fast path bumps anyway.)
inline bool HoldSampleDue(const IdCacheEntry& c) {
  return (c.acquisitions & (ThreadState::kHoldSamplePeriod - 1)) == 0;
}

// A held entry is written in two steps, the only place one is written (fast path and slow):
// BeginHeld fills held[held_count] (capacity checked by the caller) with what identifies the
// acquisition; CommitHeld completes it and pushes it. Until then the slot is past held_count and
// nobody reads it, so the fast path may begin before its last checks and drop it if they fail:
// the registers those fields used are free for the checks.
__attribute__((always_inline)) inline HeldLock& BeginHeld(ThreadState& ts, uint32_t n,
                                                         const IdCacheEntry& c, const void* lock,
                                                         uint32_t flags, Site site) noexcept {
  HeldLock& h = ts.held[n];
  h.id = c.id;
  h.addr = lock;
  h.site = site;
  StorePair(&h.flags, flags, 0);  // recursion 0
  return h;
}

// `prefix`: the max level over the held stack including this lock; `key`: its HeldKey;
// `hold_start_ns`: nonzero when the hold is timed. Counts the acquisition.
// `n`: ts.held_count, h being ts.held[n] (passed in: read back after the stores to h, it would
// be loaded again, since the compiler cannot tell that they do not alias it).
__attribute__((always_inline)) inline void CommitHeld(ThreadState& ts, uint32_t n,
                                                     IdCacheEntry& c, HeldLock& h, int prefix,
                                                     uint64_t key,
                                                     uint64_t hold_start_ns) noexcept {
  if (LOCKAUDIT_PREDICT_FALSE(hold_start_ns != 0)) {
    h.hold_start_ns = hold_start_ns;
    h.flags |= kHoldTimed;
  }
  StorePair(&h.prefix_max_level, static_cast<uint32_t>(prefix),
            c.node->foreign_unlocks.load(std::memory_order_relaxed));
  h.sig = n != 0 ? (&h)[-1].sig ^ key : key;  // (&h)[-1] is held[n - 1]
  ts.held_count = n + 1;
  ++c.acquisitions;
  if (LOCKAUDIT_PREDICT_FALSE((h.flags & kShared) != 0)) {
    ++ts.lock_hist[&c - ts.id_cache].shared_acquisitions;  // (rwlock modes: stats, rwlock_as_mutex)
  }
}

__attribute__((always_inline)) inline void PushHeld(ThreadState& ts, IdCacheEntry& c,
                                                   const void* lock, uint32_t flags, Site site,
                                                   int prefix, uint64_t key,
                                                   uint64_t hold_start_ns) noexcept {
  const uint32_t n = ts.held_count;
  HeldLock& h = BeginHeld(ts, n, c, lock, flags, site);
  CommitHeld(ts, n, c, h, prefix, key, hold_start_ns);
}

// The checks of FastAcquire when the thread holds n > 0 locks: not a re-lock, no hierarchy
// problem, the (held set, lock) context already learned. Returns the prefix level to push, or
// kDeclined. A blocking acquisition needs no scan for a re-lock: a context whose lock is held
// is never cached (LearnContext), so a cached context proves the lock is not held. The common
// case, the lock taken again under the same held set, is recognised by the signature alone
// (c.last_sig, set only after a context-cache hit, so it carries the same proof): no hash, no
// cache line of the context cache on the dependency chain between the two atomics. A try is
// not looked up in the context cache (it adds no edge) and scans.
// `level`: the lock's level, or kNoLevel when no lock has a level (then no level is read).
inline constexpr int64_t kDeclined = INT64_MIN;
// `top`: held[n - 1], where the caller has the address at hand.
__attribute__((always_inline)) inline int64_t NestedPrefix(const ThreadState& ts, uint32_t n,
                                                          const HeldLock& top, IdCacheEntry& c,
                                                          uint32_t flags, int level,
                                                          bool levels) noexcept {
  const int prev = levels ? top.prefix_max_level : kNoLevel;
  if (!(flags & kTry)) {
    if (LOCKAUDIT_PREDICT_FALSE(levels && level != kNoLevel && prev >= level)) return kDeclined;
    const bool shared = (flags & kShared) != 0;
    if (LOCKAUDIT_PREDICT_FALSE(shared || top.sig != c.last_sig)) {
      const uint64_t salt = LOCKAUDIT_PREDICT_FALSE(shared) ? EdgeSalt(HeldKey(c.id, flags))
                                                            : ts.edge_salt[&c - ts.id_cache];
      const uint64_t key = EdgeCacheKey(top.sig, salt);
      if (LOCKAUDIT_PREDICT_FALSE(ts.edge_cache[EdgeCacheSlot(key)] != key)) {
        return kDeclined;  // context not learned yet (or a re-lock)
      }
      if (!shared) c.last_sig = top.sig;
    }
  } else {
    for (uint32_t i = 0; i < n; ++i) {
      if (LOCKAUDIT_PREDICT_FALSE(ts.held[i].id == c.id)) return kDeclined;  // re-lock: slow path
    }
  }
  return prev > level ? prev : level;
}

// Lock churn (core/churn.h): is this acquisition of `lock`, about to push onto held[n], the
// re-acquisition of the lock this thread released last, at the same depth with nothing taken
// since, from another site than the released hold's? The slot still holds the released entry
// (ThreadState::last_released). Checked site first: a loop that takes one lock at one site
// (the common case of a re-acquisition) pays one load and one compare, of a line the push
// writes next anyway. `n` < held_capacity (checked before).
__attribute__((always_inline)) inline bool ReleasedHere(const ThreadState& ts, const void* lock,
                                                       uint32_t n, Site site) noexcept {
  const HeldLock* slot = &ts.held[n];
  return slot->site.pc != site.pc && ts.last_released == slot && slot->addr == lock;
}

// A re-acquisition ReleasedHere found (onto held[n]): counted for its lock here
// (LockHist::churn) and forgotten (last_released cleared, so that a later path of the same
// acquisition does not count it again), except 1 in kChurnSamplePeriod, which goes to the slow
// path to record its site pair with that weight (ThreadState::churn_weight): a churning program
// stays on the fast path (no call, no engine). The default mutex's inline path declines first
// and the out-of-line FastAcquire then sees the same acquisition: a sample taken stays taken.
// A condition-variable wait's re-acquisition is not a site of its own: not counted.
__attribute__((always_inline)) inline bool ChurnSampleDue(ThreadState& ts, IdCacheEntry& c,
                                                         uint32_t n) {
  if (ts.churn_weight != 0) return true;
  ts.last_released = nullptr;
  if ((ts.held[n].flags & kCondReacquired) != 0) return false;
  if ((++ts.lock_hist[&c - ts.id_cache].churn & (ThreadState::kChurnSamplePeriod - 1)) != 0) {
    return false;
  }
  ts.last_released = &ts.held[n];
  ts.churn_weight = ThreadState::kChurnSamplePeriod;
  return true;
}

// The checks both acquisition fast paths start with: is the lock cached and live (its node not
// destroyed since, its stack frame, if any, not returned)? kYes sets `entry` and `node`;
// kNothingToRecord: an instrumented type's own std:: call seen by the shim (that type reports
// it); kNo: the slow path must decide. (A result code, not a sentinel pointer: the compiler
// folds the constant codes away, not a compare of the pointer that the asm below hides.)
enum class Live { kNo, kNothingToRecord, kYes };
__attribute__((always_inline)) inline Live LiveCacheEntry(ThreadState& ts, const void* lock,
                                                         uint32_t flags, IdCacheEntry*& entry,
                                                         const LockNode*& node) noexcept {
  entry = &CacheEntry(ts, lock);
  // Keeps the entry's address in one register: left alone, the compiler recomputes it from the
  // slot index at every use and runs out of scratch registers (then saves callee-saved ones).
  asm("" : "+r"(entry));
  const IdCacheEntry& c = *entry;
  if (LOCKAUDIT_PREDICT_FALSE(c.addr != reinterpret_cast<uintptr_t>(lock))) return Live::kNo;
  node = c.node;
  if (LOCKAUDIT_PREDICT_FALSE(node->generation.load(std::memory_order_acquire) !=
                              CachedGeneration(c))) {
    return Live::kNo;
  }
  // (A lock on no thread's stack has owner_cfa 0: one compare, the rest stays off the path.)
  if (LOCKAUDIT_PREDICT_FALSE(c.owner_cfa != 0) && OwnerFrameDead(c.owner_cfa, c.owner_ret)) {
    return Live::kNo;
  }
  if ((flags & kFromShim) && node->api_managed.load(std::memory_order_relaxed)) {
    return Live::kNothingToRecord;
  }
  return Live::kYes;
}

// A signal handler on this thread that locks and unlocks while a fast path fills held[n] (after
// its first store, before the store of held_count that covers the slot) pushes onto the same
// slot and overwrites it: the thread would then "hold" the handler's lock and not its own (an
// invented double_lock or unlock_not_held later). So once held_count covers the slot, the fast
// path reads back the two fields it stored first (a compiler barrier orders them; a handler on
// the same thread needs no fence) and, in the rare case a handler overwrote them, stores the
// entry again: no handler can take the slot now. Two loads and a compare on the path.
LOCKAUDIT_COLD inline void RefillHeld(ThreadState& ts, uint32_t n, const IdCacheEntry& c,
                                      const void* lock, uint32_t flags, Site site,
                                      uint64_t prefix_foreign, uint64_t sig) noexcept {
  HeldLock& h = BeginHeld(ts, n, c, lock, flags, site);
  __builtin_memcpy(&h.prefix_max_level, &prefix_foreign, sizeof prefix_foreign);
  h.sig = sig;
}
__attribute__((always_inline)) inline bool HeldSlotOverwritten(const HeldLock& h,
                                                              const IdCacheEntry& c,
                                                              const void* lock) noexcept {
  asm volatile("" ::: "memory");  // the slot is read back after the store of held_count
  return LOCKAUDIT_PREDICT_FALSE(h.id != c.id || h.addr != lock);
}

__attribute__((always_inline)) inline bool FastAcquire(ThreadState& ts, const void* lock,
                                                      uint32_t flags, Site site) noexcept {
  IdCacheEntry* entry;
  const LockNode* live_node;
  const Live live = LiveCacheEntry(ts, lock, flags, entry, live_node);
  if (LOCKAUDIT_PREDICT_FALSE(live == Live::kNo)) return false;
  if (live == Live::kNothingToRecord) return true;  // an instrumented type's own std:: call
  IdCacheEntry& c = *entry;
  const LockNode& node = *live_node;
  const uint32_t n = ts.held_count;
  if (LOCKAUDIT_PREDICT_FALSE(n == ts.held_capacity || HoldSampleDue(c))) return false;
  if (LOCKAUDIT_PREDICT_FALSE(ReleasedHere(ts, lock, n, site)) && ChurnSampleDue(ts, c, n)) {
    return false;  // the slow path records this re-acquisition's site pair
  }
  HeldLock& h = BeginHeld(ts, n, c, lock, flags, site);
  const bool levels = g_levels_in_use.load(std::memory_order_relaxed);
  const int level = levels ? node.level.load(std::memory_order_relaxed) : kNoLevel;
  int prefix = level;
  if (n != 0) {
    const int64_t p = NestedPrefix(ts, n, (&h)[-1], c, flags, level, levels);  // held[n - 1]
    if (LOCKAUDIT_PREDICT_FALSE(p == kDeclined)) return false;  // the begun entry is dropped
    prefix = static_cast<int>(p);
  }
  const uint64_t held_key =
      LOCKAUDIT_PREDICT_FALSE((flags & kShared) != 0) ? HeldKey(c.id, flags) : c.held_key;
  CommitHeld(ts, n, c, h, prefix, held_key, 0);
  if (HeldSlotOverwritten(h, c, lock)) {
    const uint64_t prefix_foreign =
        static_cast<uint32_t>(prefix) |
        (static_cast<uint64_t>(c.node->foreign_unlocks.load(std::memory_order_relaxed)) << 32);
    RefillHeld(ts, n, c, lock, flags, site, prefix_foreign,
               n != 0 ? (&h)[-1].sig ^ held_key : held_key);
  }
  return true;
}

// FastAcquire's most common case only, for the inline path of the default mutex (both
// front-ends): no lock has a level, and either nothing is held, or the lock is tried, or it is
// taken exclusively under the same held set as the last time its context was found known
// (IdCacheEntry::last_sig). Everything else (a shared acquisition, another held set, levels)
// returns false, and the caller's out-of-line path runs the full FastAcquire before the slow
// path. Kept this small, the function needs no callee-saved register: GCC gave the full version
// two to four, a store and a load each on every call.
__attribute__((always_inline)) inline bool FastAcquireCommon(ThreadState& ts, const void* lock,
                                                            uint32_t flags, Site site) noexcept {
  if ((flags & kShared) != 0) return false;  // (its held key is not the cached one)
  IdCacheEntry* entry;
  const LockNode* live_node;
  const Live live = LiveCacheEntry(ts, lock, flags, entry, live_node);
  if (LOCKAUDIT_PREDICT_FALSE(live == Live::kNo)) return false;
  if (live == Live::kNothingToRecord) return true;  // an instrumented type's own std:: call
  IdCacheEntry& c = *entry;
  const LockNode& node = *live_node;
  const uint32_t n = ts.held_count;
  if (LOCKAUDIT_PREDICT_FALSE(n == ts.held_capacity || HoldSampleDue(c) ||
                              g_levels_in_use.load(std::memory_order_relaxed))) {
    return false;
  }
  if (LOCKAUDIT_PREDICT_FALSE(ReleasedHere(ts, lock, n, site)) && ChurnSampleDue(ts, c, n)) {
    return false;  // the slow path records this re-acquisition's site pair
  }
  HeldLock* const h = &ts.held[n];
  uint64_t sig = c.held_key;
  if (n != 0) {
    const uint64_t top_sig = h[-1].sig;  // held[n - 1]
    if ((flags & kTry) != 0) {
      // A try adds no edge: no context to know, only a re-lock to rule out.
      for (uint32_t i = 0; i < n; ++i) {
        if (LOCKAUDIT_PREDICT_FALSE(ts.held[i].id == c.id)) return false;
      }
    } else if (LOCKAUDIT_PREDICT_FALSE(top_sig != c.last_sig)) {
      // (No re-lock scan: last_sig is only set from a known context, and a context whose lock
      // is held is never learned.)
      return false;
    }
    sig ^= top_sig;
  }
  BeginHeld(ts, n, c, lock, flags, site);  // fills *h
  // No level in use: the prefix is kNoLevel, the node's level as it is.
  const uint64_t prefix_foreign = LevelAndForeign(node);
  __builtin_memcpy(&h->prefix_max_level, &prefix_foreign, sizeof prefix_foreign);
  h->sig = sig;
  ts.held_count = n + 1;
  if (HeldSlotOverwritten(*h, c, lock)) RefillHeld(ts, n, c, lock, flags, site, prefix_foreign, sig);
  ++c.acquisitions;
  return true;
}

// `origin`: kFromShim for an interposed release, else 0. Only an entry of the same origin is
// popped here: under the shim, an instrumented type's own std:: unlock (origin kFromShim) must
// not pop the entry the type pushed (OnReleased then ignores it). One load decides: the top
// entry's flags and recursion, read as one word, must be exactly `origin` in the bits that
// matter (no recursion, no timed hold, same origin). One store pops.
__attribute__((always_inline)) inline bool FastRelease(ThreadState& ts, const void* lock,
                                                      uint32_t origin) noexcept {
  const uint32_t n = ts.held_count;
  if (LOCKAUDIT_PREDICT_FALSE(n == 0)) return false;
  const HeldLock& h = ts.held[n - 1];
  uint64_t flags_recursion;
  __builtin_memcpy(&flags_recursion, &h.flags, sizeof flags_recursion);
  constexpr uint64_t kMask = 0xFFFFFFFF00000000ULL | kHoldTimed | kFromShim;
  if (LOCKAUDIT_PREDICT_FALSE(h.addr != lock || (flags_recursion & kMask) != origin)) return false;
  ts.held_count = n - 1;
  ts.last_released = &h;
  return true;
}

// The uncontended acquisition of a default pthread mutex `m` (recorded as `lock`, which the
// instrumented types give as their own address) by both front-ends: the inline try
// (native_mutex.h) and the fast path's record of its common case (FastAcquireCommon).
// kRecorded when both happened; else the try's result: 0 (acquired, not recorded: the caller's
// out-of-line path runs FastAcquire, then OnAcquired), EBUSY, or -1 (not tried: call glibc).
inline constexpr int kRecorded = 1;
__attribute__((always_inline)) inline int TryDefaultAndRecord(ThreadState& ts, pthread_mutex_t* m,
                                                              const void* lock, uint32_t flags,
                                                              Site site) noexcept {
  if (LOCKAUDIT_PREDICT_FALSE(!InlineDefaultMutex(m))) return -1;
  if (LOCKAUDIT_PREDICT_FALSE(native::TryKnownDefault(m, ts.tid) != 0)) return EBUSY;
  return FastAcquireCommon(ts, lock, flags, site) ? kRecorded : 0;
}

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_HOT_PATH_H_
