#include "registry.h"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

#include "engine_arena.h"
#include "raw_log.h"

namespace lockaudit::core {

std::atomic<bool> g_levels_in_use{false};
std::atomic<void (*)()> g_revive_claim_hook{nullptr};

namespace {

void* MapZeroed(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

LockRegistry::Index* LockRegistry::NewIndex(uint32_t bits) noexcept {
  const size_t slots = size_t{1} << bits;
  auto* index = static_cast<Index*>(MapZeroed(offsetof(Index, slots) + slots * sizeof(Slot)));
  if (index != nullptr) index->mask = slots - 1;
  return index;
}

LockRegistry::LockRegistry() {
  // The first index and the page filter are mapped at once (the registry is built at load): a
  // program's first locks would otherwise each pay page faults in them, at random places, while
  // they hold other locks (a fault on fresh memory costs 10 us in some virtual machines).
  Index* first = NewIndex(kFirstIndexBits);
  const size_t first_bytes = offsetof(Index, slots) + (size_t{1} << kFirstIndexBits) * sizeof(Slot);
  arena::PrefaultPages(first, first_bytes);
  index_.store(first, std::memory_order_release);
  page_filter_ = static_cast<std::atomic<uint64_t>*>(MapZeroed(kFilterBits / 8));
  arena::PrefaultPages(page_filter_, kFilterBits / 8);
  // The first chunk of nodes, and the pages of its first kNodesAhead nodes.
  if (void* mem = MapZeroed(sizeof(LockNode) * kChunkSize)) {
    chunks_[0].store(static_cast<LockNode*>(mem), std::memory_order_release);
    arena::PrefaultPages(mem, kNodesAhead * sizeof(LockNode));
  }
}

bool LockRegistry::GrowLocked() noexcept {
  Index* old = index_.load(std::memory_order_relaxed);
  if (old->mask + 1 >= (size_t{1} << kIndexBits)) return false;
  uint32_t bits = 0;
  while ((size_t{1} << bits) < (old->mask + 1) * 2) ++bits;
  Index* grown = NewIndex(bits);
  if (grown == nullptr) return false;
  shift_seq_.fetch_add(1, std::memory_order_acq_rel);  // odd: entries move (to the new table)
  for (size_t i = 0; i <= old->mask; ++i) {
    uintptr_t a = old->slots[i].addr.load(std::memory_order_relaxed);
    if (a == 0) continue;
    size_t j = Hash(a) & grown->mask;
    while (grown->slots[j].addr.load(std::memory_order_relaxed) != 0) j = (j + 1) & grown->mask;
    grown->slots[j].id.store(old->slots[i].id.load(std::memory_order_relaxed),
                             std::memory_order_relaxed);
    grown->slots[j].addr.store(a, std::memory_order_relaxed);
  }
  grown->previous = old;
  index_.store(grown, std::memory_order_release);
  shift_seq_.fetch_add(1, std::memory_order_release);
  return true;
}

// A slot names a node by its index; the node's own generation and address say whether it is the
// live lock at that address (a node born again in place keeps its slot, whose stored
// generation is then old).
NodeId LockRegistry::Lookup(const void* addr) const noexcept {
  const Index* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return 0;
  const size_t mask = index->mask;
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  for (size_t i = Hash(a) & mask, n = 0; n <= mask; i = (i + 1) & mask, ++n) {
    uintptr_t sa = index->slots[i].addr.load(std::memory_order_acquire);
    if (sa == 0) return 0;
    if (sa == a) {
      // The slot may have been reused between the two loads: validate against the node.
      const uint32_t idx = IndexOf(index->slots[i].id.load(std::memory_order_acquire));
      if (idx == 0 || idx >= next_index_.load(std::memory_order_acquire)) return 0;
      LockNode& node = NodeAt(idx);
      const uint32_t gen = node.generation.load(std::memory_order_acquire);
      if ((gen & 1) != 0 && node.addr.load(std::memory_order_acquire) == a) {
        return MakeNodeId(gen, idx);
      }
      return 0;
    }
  }
  return 0;
}

namespace {
// Waiting for an Insert that resets a node without the mutex (a few dozen stores): spin, and
// yield now and then in case its thread was preempted.
void WaitForRebirth(uint32_t& spins) {
  if ((++spins & 1023) == 0) {
    sched_yield();
  } else {
    __builtin_ia32_pause();
  }
}
}  // namespace

NodeId LockRegistry::Find(const void* addr) noexcept {
  NodeId id = Lookup(addr);
  if (id != 0 || index_.load(std::memory_order_acquire) == nullptr) return id;
  EngineLock lock(mu_);
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  Slot* s = FindSlotLocked(a);
  if (s == nullptr) return 0;
  const uint32_t idx = IndexOf(s->id.load(std::memory_order_relaxed));
  LockNode& node = NodeAt(idx);
  // A claim without the mutex (a rebirth, or a ReviveLockFree that found the node live and gives
  // it back) ends in a few stores: wait for it, so that a live lock is never missed here.
  for (uint32_t spins = 0; node.addr.load(std::memory_order_acquire) == (a | kClaimed);) {
    WaitForRebirth(spins);
  }
  const uint32_t gen = node.generation.load(std::memory_order_acquire);
  return (gen & 1) != 0 && node.addr.load(std::memory_order_acquire) == a ? MakeNodeId(gen, idx)
                                                                          : 0;
}

LockRegistry::Slot* LockRegistry::FindSlotLocked(uintptr_t a) noexcept {
  Index* index = index_.load(std::memory_order_relaxed);
  const size_t mask = index->mask;
  for (size_t i = Hash(a) & mask, n = 0; n <= mask; i = (i + 1) & mask, ++n) {
    uintptr_t sa = index->slots[i].addr.load(std::memory_order_relaxed);
    if (sa == 0) return nullptr;
    if (sa == a) return &index->slots[i];
  }
  return nullptr;
}

LockRegistry::Slot* LockRegistry::FindSlotOfLocked(uintptr_t a, uint32_t index_of) noexcept {
  Slot* s = FindSlotLocked(a);  // an address has at most one slot
  return s != nullptr && IndexOf(s->id.load(std::memory_order_relaxed)) == index_of ? s : nullptr;
}


bool LockRegistry::ClaimLocked(LockNode& node, uintptr_t addr, uint32_t dead_gen) noexcept {
  for (uint32_t spins = 0;;) {
    uintptr_t seen = node.addr.load(std::memory_order_acquire);
    if (seen == (addr | kClaimed)) {  // an Insert gives it a new life, without the mutex: wait
      WaitForRebirth(spins);
      continue;
    }
    if (seen != addr) return false;
    if (dead_gen != 0 && node.generation.load(std::memory_order_acquire) != dead_gen) return false;
    if (node.addr.compare_exchange_weak(seen, 0, std::memory_order_acq_rel)) {
      // Born again between the two loads? Its rebirth ended before our claim: give it back.
      if (dead_gen != 0 && node.generation.load(std::memory_order_acquire) != dead_gen) {
        node.addr.store(addr, std::memory_order_release);
        return false;
      }
      return true;
    }
  }
}

// Linear-probing deletion with backward shift (Knuth 6.4, Algorithm R): no tombstones, so
// probe chains stay short under create/destroy churn. A lock-free Lookup racing with a shift may
// miss an entry (callers then take the locked path) or read a torn slot (rejected by the node
// check), never a wrong id; a lock-free walk sees shift_seq_ change and starts again locked.
void LockRegistry::EraseSlotLocked(Slot* s) noexcept {
  shift_seq_.fetch_add(1, std::memory_order_acq_rel);
  Slot* slots = index_.load(std::memory_order_relaxed)->slots;
  const size_t mask = index_.load(std::memory_order_relaxed)->mask;
  size_t i = static_cast<size_t>(s - slots);
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    uintptr_t ja = slots[j].addr.load(std::memory_order_relaxed);
    if (ja == 0) break;
    size_t home = Hash(ja) & mask;
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots[i].addr.store(0, std::memory_order_release);
    slots[i].id.store(slots[j].id.load(std::memory_order_relaxed), std::memory_order_relaxed);
    slots[i].addr.store(ja, std::memory_order_release);
    i = j;
  }
  slots[i].addr.store(0, std::memory_order_release);
  --used_slots_;
  shift_seq_.fetch_add(1, std::memory_order_release);
}

NodeId LockRegistry::KillAndEraseLocked(Slot* s) noexcept {
  const uintptr_t sa = s->addr.load(std::memory_order_relaxed);
  const uint32_t idx = IndexOf(s->id.load(std::memory_order_relaxed));
  LockNode& node = NodeAt(idx);
  // Under the mutex a slot's node has the slot's address, or is being born again there.
  ClaimLocked(node, sa);
  EraseSlotLocked(s);
  uint32_t gen = node.generation.load(std::memory_order_relaxed);
  // seq_cst: ordered before the caller's in_graph load (a thread that marks the node in_graph
  // after it sees the lock dead adds no edge to it: LockOrderHost::MarkInGraph, then IsLive).
  if ((gen & 1) != 0 &&
      node.generation.compare_exchange_strong(gen, gen + 1, std::memory_order_seq_cst)) {
    live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);  // under mu_
    return MakeNodeId(gen, idx);
  }
  return 0;  // killed by a lock-free free: its ReclaimList gives the node back
}

size_t LockRegistry::RemoveLineLocked(uintptr_t line, uintptr_t lo, uintptr_t hi,
                                      NodeId* removed, bool recycle_unmarked) noexcept {
  Index* index = index_.load(std::memory_order_relaxed);
  const size_t mask = index->mask;
  size_t found = 0;
  // The line's locks lie between its home slot and the cluster's first empty slot. A removal
  // shifts a later entry back into slot i (never before it): slot i is looked at again.
  for (size_t i = Hash(line) & mask, n = 0; n <= mask;) {
    const uintptr_t sa = index->slots[i].addr.load(std::memory_order_relaxed);
    if (sa == 0) break;
    if (sa >= lo && sa < hi && (sa & ~(kLineBytes - 1)) == line) {
      const NodeId id = KillAndEraseLocked(&index->slots[i]);
      if (id == 0) continue;
      LockNode& node = Node(id);
      if (recycle_unmarked && !node.in_graph.load(std::memory_order_seq_cst)) {
        node.next_free = free_head_;
        free_head_ = IndexOf(id);
      } else {
        removed[found++] = id;
      }
      continue;
    }
    i = (i + 1) & mask;
    ++n;
  }
  return found;
}

void LockRegistry::ResetNode(LockNode& node, LockClass cls, uintptr_t a) noexcept {
  node.cls = cls;
  node.in_graph.store(false, std::memory_order_relaxed);
  node.level.store(kNoLevel, std::memory_order_relaxed);
  node.name.store(nullptr, std::memory_order_relaxed);
  node.name_ordinal.store(0, std::memory_order_relaxed);
  node.name_source = NameSource::kNone;
  node.first_site_pc.store(0, std::memory_order_relaxed);
  node.stats_key.store(0, std::memory_order_relaxed);
  node.foreign_unlocks.store(0, std::memory_order_relaxed);
  node.api_managed.store(false, std::memory_order_relaxed);
  node.stack_owner_cfa.store(0, std::memory_order_relaxed);
  node.stack_owner_ret.store(0, std::memory_order_relaxed);
  node.acquisitions.store(0, std::memory_order_relaxed);
  node.contentions.store(0, std::memory_order_relaxed);
  node.wait_ns.store(0, std::memory_order_relaxed);
  node.hold_ns.store(0, std::memory_order_relaxed);
  node.hold_samples.store(0, std::memory_order_relaxed);
  node.shared_acquisitions.store(0, std::memory_order_relaxed);
  node.shared_contentions.store(0, std::memory_order_relaxed);
  (void)a;
}

// A lock freed at `a` without the mutex, whose slot and node are still there (on its freeing
// thread's ReclaimList): the new lock takes the node over, with the next generation. The node's
// address is claimed (a -> a | kClaimed) for the time of the reset, so that the list's Reclaim,
// a locked removal or another Insert waits or passes. Not for a node that may have edges
// (in_graph): its edges go first (the locked path).
NodeId LockRegistry::ReviveLockFree(uintptr_t a, LockClass cls, bool* is_new,
                                    std::atomic<uint32_t>* claim_note) noexcept {
  const Index* index = index_.load(std::memory_order_acquire);
  const size_t mask = index->mask;
  for (size_t i = Hash(a) & mask, n = 0; n <= mask; i = (i + 1) & mask, ++n) {
    const uintptr_t sa = index->slots[i].addr.load(std::memory_order_acquire);
    if (sa == 0) return 0;
    if (sa != a) continue;
    const uint32_t idx = IndexOf(index->slots[i].id.load(std::memory_order_acquire));
    if (idx == 0 || idx >= next_index_.load(std::memory_order_acquire)) return 0;
    LockNode& node = NodeAt(idx);
    if ((node.generation.load(std::memory_order_acquire) & 1) != 0) return 0;  // live: locked path
    if (claim_note != nullptr) claim_note->store(idx, std::memory_order_relaxed);
    uintptr_t expected = a;
    if (!node.addr.compare_exchange_strong(expected, a | kClaimed, std::memory_order_acq_rel)) {
      if (claim_note != nullptr) claim_note->store(0, std::memory_order_relaxed);
      return 0;  // claimed by another, or not this address's any more: the locked path
    }
    // The generation is read again under the claim: nothing changes an even (dead) generation
    // while the address is claimed (a kill needs a live one, a rebirth the claim).
    if (void (*hook)() = g_revive_claim_hook.load(std::memory_order_relaxed)) hook();
    const uint32_t gen = node.generation.load(std::memory_order_acquire);
    if ((gen & 1) != 0 || node.in_graph.load(std::memory_order_seq_cst)) {
      node.addr.store(a, std::memory_order_release);
      if (claim_note != nullptr) claim_note->store(0, std::memory_order_relaxed);
      return 0;
    }
    ResetNode(node, cls, a);
    node.generation.store(gen + 1, std::memory_order_release);  // odd: live
    node.addr.store(a, std::memory_order_release);
    if (claim_note != nullptr) claim_note->store(0, std::memory_order_relaxed);
    registered_.fetch_add(1, std::memory_order_relaxed);
    *is_new = true;
    return MakeNodeId(gen + 1, idx);
  }
  return 0;
}

NodeId LockRegistry::Insert(const void* addr, LockClass cls, bool* is_new,
                            std::atomic<uint32_t>* claim_note) noexcept {
  *is_new = false;
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  if (index_.load(std::memory_order_relaxed) == nullptr || a == 0) return 0;
  if (NodeId id = ReviveLockFree(a, cls, is_new, claim_note)) return id;
  EngineLock lock(mu_);
  if (Slot* s = FindSlotLocked(a)) {
    const uint32_t idx = IndexOf(s->id.load(std::memory_order_relaxed));
    LockNode& node = NodeAt(idx);
    for (uint32_t spins = 0;;) {
      uintptr_t seen = node.addr.load(std::memory_order_acquire);
      if (seen == (a | kClaimed)) {  // being born again without the mutex: wait for it
        WaitForRebirth(spins);
        continue;
      }
      if (seen != a) {  // under the mutex a slot's node has the slot's address: never expected
        EraseSlotLocked(s);
        break;
      }
      // Live: registered already (the id may be stale a moment later: callers check IsLive).
      // The claim is taken only for a rebirth: a claimed live lock would miss lock-free lookups.
      if (const uint32_t gen = node.generation.load(std::memory_order_acquire); (gen & 1) != 0) {
        return MakeNodeId(gen, idx);
      }
      // Claim, then read the generation again: the one read before the claim may be stale by
      // then (born again and freed again without the mutex, the address the same).
      if (!node.addr.compare_exchange_weak(seen, a | kClaimed, std::memory_order_acq_rel)) {
        continue;
      }
      const uint32_t gen = node.generation.load(std::memory_order_acquire);
      if ((gen & 1) != 0) {  // born again meanwhile: live
        node.addr.store(a, std::memory_order_release);
        return MakeNodeId(gen, idx);
      }
      if (!node.in_graph.load(std::memory_order_seq_cst)) {
        ResetNode(node, cls, a);
        node.generation.store(gen + 1, std::memory_order_release);
        node.addr.store(a, std::memory_order_release);
        registered_.fetch_add(1, std::memory_order_relaxed);
        *is_new = true;
        return MakeNodeId(gen + 1, idx);
      }
      // Freed without the mutex and in the graph: its freeing thread forgets its edges and
      // recycles the node. Its slot goes now; the new lock gets a fresh node below.
      node.addr.store(0, std::memory_order_release);
      EraseSlotLocked(s);
      break;
    }
  }
  // Keep the index at most 3/4 full (growing it while it can), and the node table within bounds.
  bool index_full = used_slots_ + 1 > (index_.load(std::memory_order_relaxed)->mask + 1) / 4 * 3;
  if (index_full && GrowLocked()) index_full = false;
  Index* table = index_.load(std::memory_order_relaxed);
  const size_t mask = table->mask;
  size_t i = Hash(a) & mask;
  while (table->slots[i].addr.load(std::memory_order_relaxed) != 0) i = (i + 1) & mask;
  uint32_t index = free_head_;
  if (index == 0 && next_index_.load(std::memory_order_relaxed) >= kMaxChunks * kChunkSize) {
    index_full = true;
  }
  if (index_full) {
    if (!warned_full_) {
      warned_full_ = true;
      RawLog("lockaudit: warning: more than %u live locks; new locks are not audited\n",
             LiveCount());
    }
    return 0;
  }
  if (index != 0) {
    free_head_ = NodeAt(index).next_free;
  } else {
    index = next_index_.load(std::memory_order_relaxed);
    uint32_t chunk = index >> kChunkBits;
    if (chunks_[chunk].load(std::memory_order_relaxed) == nullptr) {
      // Zero pages: a node is constructed when its index is first handed out (below), so a
      // process's first lock touches one page of the chunk, not all of its 2 MiB.
      void* mem = MapZeroed(sizeof(LockNode) * kChunkSize);
      if (mem == nullptr) return 0;
      chunks_[chunk].store(static_cast<LockNode*>(mem), std::memory_order_release);
    }
    if (index % kNodesAhead == 0) {
      // The next nodes' pages, resident in one call (a page holds 32 nodes: a program making
      // many locks would fault once per 32, and in some virtual machines a fault costs 10 us).
      arena::PopulatePages(&NodeAt(index), kNodesAhead * sizeof(LockNode));
    }
    new (&NodeAt(index)) LockNode();  // never handed out before: nothing refers to it
    next_index_.store(index + 1, std::memory_order_release);
  }
  LockNode& node = NodeAt(index);
  uint32_t gen = node.generation.load(std::memory_order_relaxed) + 1;  // odd: live
  ResetNode(node, cls, a);
  // The generation first: whoever sees the address sees it live (a node handed out again had
  // address 0 and a dead generation).
  node.generation.store(gen, std::memory_order_release);
  node.addr.store(a, std::memory_order_release);
  NodeId id = MakeNodeId(gen, index);
  Slot* s = &table->slots[i];
  ++used_slots_;
  s->id.store(id, std::memory_order_relaxed);
  s->addr.store(a, std::memory_order_release);
  // live_ changes under mu_ only: a load and a store, not a locked add.
  live_.store(live_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  registered_.fetch_add(1, std::memory_order_relaxed);
  const uintptr_t page = a >> 12;
  std::atomic<uint64_t>& filter_word = page_filter_[PageBit(page) / 64];
  const uint64_t page_bit = uint64_t{1} << (PageBit(page) % 64);
  if ((filter_word.load(std::memory_order_relaxed) & page_bit) == 0) {  // bits are never cleared
    filter_word.fetch_or(page_bit, std::memory_order_relaxed);
  }
  *is_new = true;
  return id;
}

NodeId LockRegistry::Remove(const void* addr) noexcept {
  if (index_.load(std::memory_order_relaxed) == nullptr) return 0;
  EngineLock lock(mu_);
  Slot* s = FindSlotLocked(reinterpret_cast<uintptr_t>(addr));
  if (s == nullptr) return 0;
  return KillAndEraseLocked(s);
}

void LockRegistry::Recycle(NodeId id) noexcept {
  if (id == 0) return;
  EngineLock lock(mu_);
  LockNode& node = Node(id);
  node.in_graph.store(false, std::memory_order_relaxed);
  node.next_free = free_head_;
  free_head_ = IndexOf(id);
}

void LockRegistry::Reclaim(ReclaimList& list) noexcept {
  if (list.count == 0) return;
  EngineLock lock(mu_);
  for (uint32_t k = 0; k < list.count; ++k) {
    const ReclaimList::Entry& e = list.entries[k];
    LockNode& node = NodeAt(e.index);
    if (node.generation.load(std::memory_order_acquire) != e.dead_gen) continue;  // born again
    if (ClaimLocked(node, e.addr, e.dead_gen)) {
      if (Slot* s = FindSlotOfLocked(e.addr, e.index)) EraseSlotLocked(s);
    } else if (node.generation.load(std::memory_order_acquire) != e.dead_gen) {
      continue;  // born again while we waited
    }  // else: a locked removal took its slot already (and left the node to this list)
    node.in_graph.store(false, std::memory_order_relaxed);
    node.next_free = free_head_;
    free_head_ = e.index;
    live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  list.count = 0;
}

bool LockRegistry::MayContain(const void* begin, size_t size) const noexcept {
  if (page_filter_ == nullptr || size == 0) return false;
  uintptr_t first = reinterpret_cast<uintptr_t>(begin) >> 12;
  uintptr_t last = (reinterpret_cast<uintptr_t>(begin) + size - 1) >> 12;
  if (last - first >= kFilterBits) return true;
  for (uintptr_t p = first; p <= last; ++p) {
    size_t bit = PageBit(p);
    if (page_filter_[bit / 64].load(std::memory_order_relaxed) & (uint64_t{1} << (bit % 64))) {
      return true;
    }
  }
  return false;
}

bool LockRegistry::RemoveRangeLockFree(uintptr_t lo, uintptr_t hi, ReclaimList& list,
                                       ReclaimList::Entry* forget, uint32_t* nforget) noexcept {
  const uint64_t seq = shift_seq_.load(std::memory_order_acquire);
  if ((seq & 1) != 0) return false;
  const Index* index = index_.load(std::memory_order_acquire);
  const size_t mask = index->mask;
  const uint32_t limit = next_index_.load(std::memory_order_acquire);
  for (uintptr_t line = lo & ~(kLineBytes - 1); line < hi;) {
    const uintptr_t page = line >> 12;
    if (!PageFlagged(page)) {
      line = (page + 1) << 12;
      continue;
    }
    for (size_t i = Hash(line) & mask, n = 0; n <= mask; i = (i + 1) & mask, ++n) {
      const uintptr_t sa = index->slots[i].addr.load(std::memory_order_acquire);
      if (sa == 0) break;
      if (sa < lo || sa >= hi || (sa & ~(kLineBytes - 1)) != line) continue;
      const uint32_t idx = IndexOf(index->slots[i].id.load(std::memory_order_acquire));
      if (idx == 0 || idx >= limit) return false;
      LockNode& node = NodeAt(idx);
      // Claimed (being born again or removed under the mutex) or already another address's:
      // the locked walk waits that out.
      if (node.addr.load(std::memory_order_acquire) != sa) return false;
      uint32_t gen = node.generation.load(std::memory_order_acquire);
      if ((gen & 1) == 0) continue;  // dead already
      // In the graph: its edges must go before its node can serve again (the locked walk).
      if (node.in_graph.load(std::memory_order_seq_cst)) return false;
      if (list.count >= ReclaimList::kMax || *nforget >= kLineBytes) return false;
      // seq_cst, then the in_graph load: as in KillAndEraseLocked.
      if (!node.generation.compare_exchange_strong(gen, gen + 1, std::memory_order_seq_cst)) {
        continue;  // killed by another thread meanwhile: its duty
      }
      const ReclaimList::Entry e{sa, idx, gen + 1};
      if (node.in_graph.load(std::memory_order_seq_cst)) {
        forget[(*nforget)++] = e;  // it got an edge between the two loads
      } else {
        list.entries[list.count++] = e;
      }
    }
    line += kLineBytes;
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return shift_seq_.load(std::memory_order_relaxed) == seq;
}

void LockRegistry::RemoveRange(const void* begin, size_t size, void (*on_removed)(NodeId, void*),
                               void* ctx, bool recycle_unmarked, ReclaimList* reclaim) {
  if (index_.load(std::memory_order_relaxed) == nullptr || size == 0) return;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(begin);
  const uintptr_t hi = lo + size;
  const uintptr_t first_page = lo >> 12, last_page = (hi - 1) >> 12;
  // A range with few flagged pages (pages that ever held a lock) has the probe cluster of each
  // of their 64-byte lines scanned (Hash: a line's locks share a home slot), in batches of about
  // kBatch removals so that the callbacks run without the registry mutex, each batch resuming at
  // the next line (lines, not the index's slots, are walked: removals elsewhere move slots,
  // never addresses). A range with very many flagged pages scans the index once instead, under
  // one hold of the mutex, and calls the callbacks after it.
  constexpr size_t kBatch = 64;
  size_t flagged = 0;
  for (uintptr_t p = first_page; p <= last_page && flagged <= kMaxProbedPages; ++p) {
    if (PageFlagged(p)) ++flagged;
  }
  if (flagged == 0) return;
  if (reclaim != nullptr && recycle_unmarked && flagged <= kMaxLockFreePages) {
    if (reclaim->count > ReclaimList::kMax / 2) Reclaim(*reclaim);
    ReclaimList::Entry forget[kLineBytes];
    uint32_t nforget = 0;
    const bool done = RemoveRangeLockFree(lo, hi, *reclaim, forget, &nforget);
    // Killed without the mutex after they got an edge (a race with another thread's learning):
    // their slots go now, their edges in on_removed (which recycles them).
    // (No Insert gives such a node a new life: it sees in_graph and leaves it to this thread.)
    for (uint32_t k = 0; k < nforget; ++k) {
      {
        EngineLock lock(mu_);
        LockNode& node = NodeAt(forget[k].index);
        if (node.generation.load(std::memory_order_acquire) != forget[k].dead_gen) continue;
        if (ClaimLocked(node, forget[k].addr, forget[k].dead_gen)) {
          if (Slot* s = FindSlotOfLocked(forget[k].addr, forget[k].index)) EraseSlotLocked(s);
        }
        live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      }
      on_removed(MakeNodeId(forget[k].dead_gen - 1, forget[k].index), ctx);
    }
    if (done) return;
  }
  if (flagged <= kMaxProbedPages) {
    NodeId removed[kBatch + kLineBytes];  // a batch ends after the line that reaches kBatch
    uintptr_t line = lo & ~(kLineBytes - 1);  // the first line not yet scanned
    while (line < hi) {
      size_t n = 0;
      {
        EngineLock lock(mu_);
        if (live_.load(std::memory_order_relaxed) == 0) return;
        while (line < hi && n < kBatch) {
          const uintptr_t page = line >> 12;
          if (!PageFlagged(page)) {
            line = (page + 1) << 12;  // page-aligned, so line-aligned
            continue;
          }
          n += RemoveLineLocked(line, lo, hi, removed + n, recycle_unmarked);
          line += kLineBytes;
        }
      }
      for (size_t i = 0; i < n; ++i) on_removed(removed[i], ctx);
    }
    return;
  }
  std::vector<NodeId> removed;
  {
    EngineLock lock(mu_);
    if (live_.load(std::memory_order_relaxed) == 0) return;
    Index* index = index_.load(std::memory_order_relaxed);
    for (size_t i = 0; i <= index->mask; ++i) {
      uintptr_t sa = index->slots[i].addr.load(std::memory_order_relaxed);
      // A removal may shift a later entry into slot i: look at it again.
      while (sa != 0 && sa >= lo && sa < hi) {
        if (const NodeId id = KillAndEraseLocked(&index->slots[i])) removed.push_back(id);
        sa = index->slots[i].addr.load(std::memory_order_relaxed);
      }
    }
  }
  for (NodeId id : removed) on_removed(id, ctx);
}

}  // namespace lockaudit::core
