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

#include <cstdint>

#include "provider.h"
#include "thread_state.h"

namespace lockaudit::core {

inline size_t CacheSlot(const void* lock) {
  uintptr_t a = reinterpret_cast<uintptr_t>(lock);
  return ((a >> 3) ^ (a >> 11)) & (ThreadState::kIdCacheSize - 1);
}

// For a lock on the thread's own stack: has the frame that held it returned? (x86-64: the
// return address sits at CFA-8; see RecordStackOwner in tracker.cc.)
inline bool OwnerFrameDead(uintptr_t owner_cfa, uintptr_t owner_ret) {
  return owner_cfa != 0 && *reinterpret_cast<const uintptr_t*>(owner_cfa - 8) != owner_ret;
}

// Pushes the acquisition of the lock cached in `c` (capacity checked by the caller) and counts
// it; the one place a held entry is written, for the fast path and the slow one. `prefix`: the
// max level over the held stack including this lock; `hold_start_ns`: nonzero when timed.
__attribute__((always_inline)) inline void PushHeld(ThreadState& ts, IdCacheEntry& c,
                                                   const void* lock, uint32_t flags, Site site,
                                                   int prefix, uint64_t key,
                                                   uint64_t hold_start_ns) noexcept {
  HeldLock& h = ts.held[ts.held_count++];
  h.id = c.id;
  h.addr = lock;
  h.site = site;
  h.flags = flags;
  h.recursion = 0;
  h.prefix_max_level = prefix;
  h.foreign_unlocks_at = c.node->foreign_unlocks.load(std::memory_order_relaxed);
  h.cache_slot = static_cast<uint32_t>(&c - ts.id_cache);
  h.hold_start_ns = hold_start_ns;
  h.key = key;
  ts.held_sig ^= key;
  ++c.acquisitions;
}

__attribute__((always_inline)) inline bool FastAcquire(ThreadState& ts, const void* lock,
                                                      uint32_t flags, Site site) noexcept {
  IdCacheEntry& c = ts.id_cache[CacheSlot(lock)];
  if (LOCKAUDIT_PREDICT_FALSE(c.addr != reinterpret_cast<uintptr_t>(lock))) return false;
  const LockNode& node = *c.node;
  if (LOCKAUDIT_PREDICT_FALSE(node.generation.load(std::memory_order_acquire) !=
                              GenerationOf(c.id))) {
    return false;
  }
  if (LOCKAUDIT_PREDICT_FALSE(OwnerFrameDead(c.owner_cfa, c.owner_ret))) return false;
  if ((flags & kFromShim) && node.api_managed.load(std::memory_order_relaxed)) {
    return true;  // an instrumented type's own std:: call: that type reports it
  }
  const uint32_t n = ts.held_count;
  if (LOCKAUDIT_PREDICT_FALSE(n == ts.held_capacity || ts.sample_countdown == 1)) return false;
  const bool shared = (flags & kShared) != 0;
  const uint64_t held_key = LOCKAUDIT_PREDICT_FALSE(shared) ? HeldKey(c.id, flags) : c.held_key;
  const int level = node.level.load(std::memory_order_relaxed);
  int prefix = level;
  if (n != 0) {
    for (uint32_t i = 0; i < n; ++i) {
      if (LOCKAUDIT_PREDICT_FALSE(ts.held[i].id == c.id)) return false;  // re-lock: slow path
    }
    const int prev = ts.held[n - 1].prefix_max_level;
    if (!(flags & kTry)) {
      if (LOCKAUDIT_PREDICT_FALSE(level != kNoLevel && prev >= level)) return false;
      const uint64_t salt = LOCKAUDIT_PREDICT_FALSE(shared) ? EdgeSalt(held_key) : c.edge_salt;
      const uint64_t key = EdgeCacheKey(ts.held_sig, salt);
      if (LOCKAUDIT_PREDICT_FALSE(ts.edge_cache[key & (ThreadState::kEdgeCacheSize - 1)] != key)) {
        return false;  // context not learned yet
      }
    }
    if (prev > prefix) prefix = prev;
  }
  --ts.sample_countdown;  // not due (checked above): no hold timing
  PushHeld(ts, c, lock, flags, site, prefix, held_key, 0);
  return true;
}

// `origin`: kFromShim for an interposed release, else 0. Only an entry of the same origin is
// popped here: under the shim, an instrumented type's own std:: unlock (origin kFromShim) must
// not pop the entry the type pushed (OnReleased then ignores it).
__attribute__((always_inline)) inline bool FastRelease(ThreadState& ts, const void* lock,
                                                      uint32_t origin) noexcept {
  const uint32_t n = ts.held_count;
  if (LOCKAUDIT_PREDICT_FALSE(n == 0)) return false;
  const HeldLock& h = ts.held[n - 1];
  if (LOCKAUDIT_PREDICT_FALSE(h.addr != lock || h.recursion != 0 || h.hold_start_ns != 0 ||
                              (h.flags & kFromShim) != origin)) {
    return false;
  }
  ts.held_sig ^= h.key;
  ts.held_count = n - 1;
  return true;
}

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_HOT_PATH_H_
