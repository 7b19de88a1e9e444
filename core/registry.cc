#include "registry.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

#include "engine_arena.h"
#include "raw_log.h"

namespace lockaudit::core {

std::atomic<bool> g_levels_in_use{false};

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
  arena::PopulatePages(first, first_bytes);
  index_.store(first, std::memory_order_release);
  page_filter_ = static_cast<std::atomic<uint64_t>*>(MapZeroed(kFilterBits / 8));
  arena::PopulatePages(page_filter_, kFilterBits / 8);
}

bool LockRegistry::GrowLocked() noexcept {
  Index* old = index_.load(std::memory_order_relaxed);
  if (old->mask + 1 >= (size_t{1} << kIndexBits)) return false;
  uint32_t bits = 0;
  while ((size_t{1} << bits) < (old->mask + 1) * 2) ++bits;
  Index* grown = NewIndex(bits);
  if (grown == nullptr) return false;
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
  return true;
}

NodeId LockRegistry::Lookup(const void* addr) const noexcept {
  const Index* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return 0;
  const size_t mask = index->mask;
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  for (size_t i = Hash(a) & mask, n = 0; n <= mask; i = (i + 1) & mask, ++n) {
    uintptr_t sa = index->slots[i].addr.load(std::memory_order_acquire);
    if (sa == 0) return 0;
    if (sa == a) {
      NodeId id = index->slots[i].id.load(std::memory_order_acquire);
      // The slot may have been reused between the two loads: validate against the node.
      if (IsLive(id) && Node(id).addr.load(std::memory_order_acquire) == a) return id;
      return 0;
    }
  }
  return 0;
}

NodeId LockRegistry::Find(const void* addr) noexcept {
  NodeId id = Lookup(addr);
  if (id != 0 || index_.load(std::memory_order_acquire) == nullptr) return id;
  EngineLock lock(mu_);
  Slot* s = FindSlotLocked(reinterpret_cast<uintptr_t>(addr));
  return s ? s->id.load(std::memory_order_relaxed) : 0;
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
      const NodeId id = index->slots[i].id.load(std::memory_order_relaxed);
      RemoveSlotLocked(&index->slots[i], nullptr, nullptr);
      // The generation's seq_cst store (dead) comes before this seq_cst load: a thread that
      // marks the node in_graph after it sees the lock dead (LockOrderHost::MarkInGraph, then
      // IsLive), so a node read here as not in the graph gets no edge (as in ForgetNode).
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

NodeId LockRegistry::Insert(const void* addr, LockClass cls, bool* is_new) noexcept {
  *is_new = false;
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  if (index_.load(std::memory_order_relaxed) == nullptr || a == 0) return 0;
  EngineLock lock(mu_);
  if (Slot* s = FindSlotLocked(a)) return s->id.load(std::memory_order_relaxed);
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
    new (&NodeAt(index)) LockNode();  // never handed out before: nothing refers to it
    next_index_.store(index + 1, std::memory_order_release);
  }
  LockNode& node = NodeAt(index);
  uint32_t gen = node.generation.load(std::memory_order_relaxed) + 1;  // odd: live
  node.cls = cls;
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
  node.addr.store(a, std::memory_order_relaxed);
  node.generation.store(gen, std::memory_order_release);
  NodeId id = MakeNodeId(gen, index);
  Slot* s = &table->slots[i];
  ++used_slots_;
  s->id.store(id, std::memory_order_relaxed);
  s->addr.store(a, std::memory_order_release);
  // live_ and registered_ change under mu_ only: a load and a store, not a locked add.
  live_.store(live_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  registered_.store(registered_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  const uintptr_t page = a >> 12;
  std::atomic<uint64_t>& filter_word = page_filter_[PageBit(page) / 64];
  const uint64_t page_bit = uint64_t{1} << (PageBit(page) % 64);
  if ((filter_word.load(std::memory_order_relaxed) & page_bit) == 0) {  // bits are never cleared
    filter_word.fetch_or(page_bit, std::memory_order_relaxed);
  }
  *is_new = true;
  return id;
}

// Linear-probing deletion with backward shift (Knuth 6.4, Algorithm R): no tombstones, so
// probe chains stay short under create/destroy churn. A lock-free Lookup racing with a shift may
// miss an entry (callers then take the locked path) or read a torn slot (rejected by the node
// check), never a wrong id.
void LockRegistry::RemoveSlotLocked(Slot* s, void (*on_removed)(NodeId, void*), void* ctx) noexcept {
  NodeId id = s->id.load(std::memory_order_relaxed);
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
  LockNode& node = Node(id);
  node.addr.store(0, std::memory_order_relaxed);
  node.generation.store(GenerationOf(id) + 1, std::memory_order_seq_cst);  // even: dead
  live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);  // under mu_
  if (on_removed) on_removed(id, ctx);
}

NodeId LockRegistry::Remove(const void* addr) noexcept {
  if (index_.load(std::memory_order_relaxed) == nullptr) return 0;
  EngineLock lock(mu_);
  Slot* s = FindSlotLocked(reinterpret_cast<uintptr_t>(addr));
  if (s == nullptr) return 0;
  NodeId id = s->id.load(std::memory_order_relaxed);
  RemoveSlotLocked(s, nullptr, nullptr);
  return id;
}

void LockRegistry::Recycle(NodeId id) noexcept {
  if (id == 0) return;
  EngineLock lock(mu_);
  LockNode& node = Node(id);
  node.in_graph.store(false, std::memory_order_relaxed);
  node.next_free = free_head_;
  free_head_ = IndexOf(id);
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

void LockRegistry::RemoveRange(const void* begin, size_t size, void (*on_removed)(NodeId, void*),
                               void* ctx, bool recycle_unmarked) {
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
        removed.push_back(index->slots[i].id.load(std::memory_order_relaxed));
        RemoveSlotLocked(&index->slots[i], nullptr, nullptr);
        sa = index->slots[i].addr.load(std::memory_order_relaxed);
      }
    }
  }
  for (NodeId id : removed) on_removed(id, ctx);
}

}  // namespace lockaudit::core
