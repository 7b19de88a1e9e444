// Tests for LockRegistry. The registry never dereferences a lock address, so most tests use
// synthetic addresses: their hashes, pages and ranges are then the same on every run.
#include "registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "claim_stopper.h"

namespace lockaudit::core {
namespace {

// Each registry reserves 128 MiB of address space (touched as it fills); keep it off the stack.
std::unique_ptr<LockRegistry> NewRegistry() { return std::make_unique<LockRegistry>(); }

const void* At(uintptr_t a) { return reinterpret_cast<const void*>(a); }

constexpr uintptr_t kBase = 0x10000000;  // 4 KiB aligned

NodeId MustInsert(LockRegistry& r, uintptr_t a, LockClass cls = LockClass::kMutex) {
  bool is_new = false;
  NodeId id = r.Insert(At(a), cls, &is_new);
  EXPECT_NE(id, 0u) << std::hex << a;
  EXPECT_TRUE(is_new) << std::hex << a;
  return id;
}

// RemoveRange callback: records the id and hands the slot back, as the contract requires.
struct RangeRemoval {
  LockRegistry* registry;
  std::vector<NodeId> ids;
  static void OnRemoved(NodeId id, void* ctx) {
    auto* self = static_cast<RangeRemoval*>(ctx);
    EXPECT_FALSE(self->registry->IsLive(id)) << "callback ran before the id was killed";
    self->ids.push_back(id);
    self->registry->Recycle(id);
  }
};

TEST(LockRegistryTest, InsertLookupRemove) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x40, b = kBase + 0x80;
  EXPECT_EQ(r->Lookup(At(a)), 0u);
  EXPECT_EQ(r->LiveCount(), 0u);

  bool is_new = false;
  NodeId ia = r->Insert(At(a), LockClass::kRwLock, &is_new);
  ASSERT_NE(ia, 0u);
  EXPECT_TRUE(is_new);
  EXPECT_TRUE(r->IsLive(ia));
  EXPECT_EQ(r->Lookup(At(a)), ia);
  EXPECT_EQ(r->Node(ia).addr.load(), a);
  EXPECT_EQ(r->Node(ia).cls, LockClass::kRwLock);
  EXPECT_EQ(GenerationOf(ia) % 2, 1u) << "live generations are odd";

  EXPECT_EQ(r->Insert(At(a), LockClass::kMutex, &is_new), ia) << "second insert: same id";
  EXPECT_FALSE(is_new);
  EXPECT_EQ(r->Node(ia).cls, LockClass::kRwLock) << "the class is fixed at the first event";

  NodeId ib = MustInsert(*r, b);
  EXPECT_NE(ib, ia);
  EXPECT_EQ(r->Lookup(At(b)), ib);
  EXPECT_EQ(r->LiveCount(), 2u);
  EXPECT_EQ(r->EverRegistered(), 2u);

  EXPECT_EQ(r->Remove(At(a)), ia);
  EXPECT_FALSE(r->IsLive(ia));
  EXPECT_EQ(r->Lookup(At(a)), 0u);
  EXPECT_EQ(r->Lookup(At(b)), ib) << "removing a must not disturb b";
  EXPECT_EQ(r->LiveCount(), 1u);
  EXPECT_EQ(r->Remove(At(a)), 0u) << "already removed";
  EXPECT_EQ(r->Remove(At(kBase + 0x1000)), 0u) << "never registered";
  EXPECT_EQ(r->LiveCount(), 1u);

  EXPECT_EQ(r->Insert(nullptr, LockClass::kMutex, &is_new), 0u) << "null is never a lock";
  EXPECT_FALSE(is_new);
  EXPECT_FALSE(r->IsLive(0));
}

TEST(LockRegistryTest, RecycledSlotGetsNewGeneration) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x100;
  NodeId old_id = MustInsert(*r, a);
  ASSERT_EQ(r->Remove(At(a)), old_id);
  r->Recycle(old_id);

  NodeId new_id = MustInsert(*r, a);
  EXPECT_NE(new_id, old_id);
  EXPECT_FALSE(r->IsLive(old_id));
  EXPECT_TRUE(r->IsLive(new_id));
  EXPECT_EQ(r->Lookup(At(a)), new_id);
  if (IndexOf(new_id) == IndexOf(old_id)) {
    EXPECT_NE(GenerationOf(new_id), GenerationOf(old_id));
  }

  // The same slot reused by a lock at another address: the old id stays dead.
  ASSERT_EQ(r->Remove(At(a)), new_id);
  r->Recycle(new_id);
  NodeId other = MustInsert(*r, kBase + 0x200);
  EXPECT_FALSE(r->IsLive(old_id));
  EXPECT_FALSE(r->IsLive(new_id));
  EXPECT_TRUE(r->IsLive(other));
  EXPECT_NE(other, new_id);
  EXPECT_NE(other, old_id);
  EXPECT_EQ(r->Node(other).addr.load(), kBase + 0x200);
}

TEST(LockRegistryTest, SlotIsNotReusedBeforeRecycle) {
  auto r = NewRegistry();
  NodeId first = MustInsert(*r, kBase + 0x10);
  ASSERT_EQ(r->Remove(At(kBase + 0x10)), first);
  // Not recycled yet (the graph may still hold its edges): a new lock gets another slot.
  NodeId second = MustInsert(*r, kBase + 0x10);
  EXPECT_NE(IndexOf(second), IndexOf(first));
  EXPECT_FALSE(r->IsLive(first));
}

TEST(LockRegistryTest, NewLockStartsWithCleanState) {
  auto r = NewRegistry();
  NodeId id = MustInsert(*r, kBase + 0x20);
  r->Node(id).level.store(5);
  r->Node(id).acquisitions.store(42);
  r->Node(id).foreign_unlocks.store(3);
  ASSERT_EQ(r->Remove(At(kBase + 0x20)), id);
  r->Recycle(id);
  NodeId again = MustInsert(*r, kBase + 0x20);
  EXPECT_EQ(r->Node(again).level.load(), kNoLevel);
  EXPECT_EQ(r->Node(again).acquisitions.load(), 0u);
  EXPECT_EQ(r->Node(again).foreign_unlocks.load(), 0u);
  EXPECT_EQ(r->Node(again).name.load(), nullptr);
}

// Locks at the range's edges and just outside; `size` decides which RemoveRange path runs.
void CheckRemoveRange(size_t size, size_t inside_count) {
  SCOPED_TRACE(::testing::Message() << "range size " << size);
  auto r = NewRegistry();
  const uintptr_t lo = kBase + 0x100000, hi = lo + size;
  std::set<NodeId> inside, outside;
  std::vector<uintptr_t> outside_addrs = {lo - 8, lo - 4, hi, hi + 4, hi + 0x10000};
  for (uintptr_t a : outside_addrs) outside.insert(MustInsert(*r, a));
  std::vector<uintptr_t> inside_addrs = {lo, hi - 4, hi - 8};
  const size_t stride = (size - 64) / inside_count / 8 * 8;
  for (size_t k = 0; k < inside_count; ++k) inside_addrs.push_back(lo + 16 + k * stride);
  for (uintptr_t a : inside_addrs) inside.insert(MustInsert(*r, a));
  ASSERT_EQ(inside.size(), inside_addrs.size()) << "test addresses overlap";
  ASSERT_EQ(r->LiveCount(), inside.size() + outside.size());

  RangeRemoval removal{r.get(), {}};
  r->RemoveRange(At(lo), size, &RangeRemoval::OnRemoved, &removal);

  EXPECT_EQ(std::set<NodeId>(removal.ids.begin(), removal.ids.end()), inside);
  EXPECT_EQ(removal.ids.size(), inside.size()) << "a lock was reported twice";
  for (uintptr_t a : inside_addrs) EXPECT_EQ(r->Lookup(At(a)), 0u) << std::hex << a;
  for (uintptr_t a : outside_addrs) EXPECT_NE(r->Lookup(At(a)), 0u) << std::hex << a;
  for (NodeId id : outside) EXPECT_TRUE(r->IsLive(id));
  EXPECT_EQ(r->LiveCount(), outside.size());

  // Recycled slots serve new locks.
  NodeId fresh = MustInsert(*r, lo + 8);
  EXPECT_EQ(inside.count(fresh), 0u);
}

TEST(LockRegistryTest, RemoveRangeRemovesExactlyTheLocksInsideSmallRange) {
  CheckRemoveRange(4096, 10);
}

TEST(LockRegistryTest, RemoveRangeRemovesMoreThanOneBatchInSmallRange) {
  CheckRemoveRange(60 * 1024, 200);  // > 64 locks: removed in several batches
}

TEST(LockRegistryTest, RemoveRangeRemovesExactlyTheLocksInsideLargeRange) {
  CheckRemoveRange(64 * 1024 + 4096, 10);  // just above the small-range limit
  CheckRemoveRange(8 << 20, 300);
}

// A freed array of many locks (std::mutex is 40 bytes): every one goes, in many batches, and the
// locks just outside stay. Both paths: probing (under kMaxProbedPages flagged pages) and the
// index scan (above it).
void CheckRemoveArray(size_t count) {
  SCOPED_TRACE(::testing::Message() << count << " locks");
  auto r = NewRegistry();
  const uintptr_t lo = kBase + 0x200000, hi = lo + count * 40;
  NodeId before = MustInsert(*r, lo - 40), after = MustInsert(*r, hi);
  for (size_t k = 0; k < count; ++k) MustInsert(*r, lo + k * 40);
  ASSERT_EQ(r->LiveCount(), count + 2);
  RangeRemoval removal{r.get(), {}};
  r->RemoveRange(At(lo), hi - lo, &RangeRemoval::OnRemoved, &removal);
  EXPECT_EQ(removal.ids.size(), count);
  EXPECT_EQ(std::set<NodeId>(removal.ids.begin(), removal.ids.end()).size(), count);
  EXPECT_EQ(r->LiveCount(), 2u);
  EXPECT_TRUE(r->IsLive(before));
  EXPECT_TRUE(r->IsLive(after));
  for (size_t k = 0; k < count; k += 997) EXPECT_EQ(r->Lookup(At(lo + k * 40)), 0u);
}

TEST(LockRegistryTest, RemoveRangeRemovesEveryLockOfALargeArray) {
  CheckRemoveArray(100000);  // 977 pages: probed
  CheckRemoveArray(300000);  // 2,930 pages: the index is scanned
}

// Locks packed into 64-byte lines (the index's hash unit): a range that starts and ends inside a
// line removes exactly its part of it; a line with a lock at every byte (more than any real lock
// type packs) is removed whole, all 64 in one batch.
TEST(LockRegistryTest, RemoveRangeSplitsPackedLinesAtTheRangeEdges) {
  auto r = NewRegistry();
  const uintptr_t base = kBase + 0x300000;
  std::unordered_map<uintptr_t, NodeId> ids;
  for (uintptr_t a = base; a < base + 3 * 64; a += 4) ids[a] = MustInsert(*r, a);
  const uintptr_t lo = base + 20, hi = base + 2 * 64 + 8;  // mid-line to mid-line
  RangeRemoval removal{r.get(), {}};
  r->RemoveRange(At(lo), hi - lo, &RangeRemoval::OnRemoved, &removal);
  std::set<NodeId> expected;
  for (const auto& [a, id] : ids) {
    if (a >= lo && a < hi) expected.insert(id);
    EXPECT_EQ(r->Lookup(At(a)), a >= lo && a < hi ? 0u : id) << std::hex << a;
  }
  EXPECT_EQ(std::set<NodeId>(removal.ids.begin(), removal.ids.end()), expected);
  EXPECT_EQ(removal.ids.size(), (hi - lo) / 4);
  EXPECT_EQ(r->LiveCount(), ids.size() - expected.size());

  const uintptr_t line = base + 0x1000;
  for (uintptr_t a = line; a < line + 64; ++a) MustInsert(*r, a);
  RangeRemoval whole{r.get(), {}};
  r->RemoveRange(At(line), 64, &RangeRemoval::OnRemoved, &whole);
  EXPECT_EQ(whole.ids.size(), 64u);
  for (uintptr_t a = line; a < line + 64; ++a) EXPECT_EQ(r->Lookup(At(a)), 0u) << std::hex << a;
  EXPECT_EQ(r->LiveCount(), ids.size() - expected.size());
}

// With recycle_unmarked, a lock never in the lock-order graph is recycled by RemoveRange itself
// (no callback); one in the graph still gets the callback, which must forget its edges.
TEST(LockRegistryTest, RemoveRangeRecyclesLocksOutsideTheGraphItself) {
  auto r = NewRegistry();
  const uintptr_t lo = kBase + 0x300000;
  const NodeId plain = MustInsert(*r, lo), graphed = MustInsert(*r, lo + 64);
  r->Node(graphed).in_graph.store(true);
  RangeRemoval removal{r.get(), {}};
  r->RemoveRange(At(lo), 128, &RangeRemoval::OnRemoved, &removal, /*recycle_unmarked=*/true);
  EXPECT_EQ(removal.ids, std::vector<NodeId>{graphed});
  EXPECT_FALSE(r->IsLive(plain));
  EXPECT_EQ(r->LiveCount(), 0u);
  // Both slots serve new locks, with new generations.
  const NodeId a = MustInsert(*r, lo + 8), b = MustInsert(*r, lo + 72);
  EXPECT_EQ(std::set<uint32_t>({IndexOf(a), IndexOf(b)}),
            std::set<uint32_t>({IndexOf(plain), IndexOf(graphed)}));
  EXPECT_NE(a, plain);
  EXPECT_NE(b, plain);
}

TEST(LockRegistryTest, RemoveRangeOnEmptyOrUntouchedRangeDoesNothing) {
  auto r = NewRegistry();
  NodeId id = MustInsert(*r, kBase);
  RangeRemoval removal{r.get(), {}};
  r->RemoveRange(At(kBase + 0x1000), 4096, &RangeRemoval::OnRemoved, &removal);
  r->RemoveRange(At(kBase), 0, &RangeRemoval::OnRemoved, &removal);
  r->RemoveRange(At(kBase + 0x1000), 1 << 20, &RangeRemoval::OnRemoved, &removal);
  EXPECT_TRUE(removal.ids.empty());
  EXPECT_TRUE(r->IsLive(id));
}

TEST(LockRegistryTest, MayContainPagesThatHadLocks) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x3000 + 0x48;  // page kBase + 0x3000
  MustInsert(*r, a);
  EXPECT_TRUE(r->MayContain(At(a), 8));
  EXPECT_TRUE(r->MayContain(At(kBase + 0x3000), 4096));
  EXPECT_TRUE(r->MayContain(At(kBase + 0x2ff8), 0x100)) << "range straddling into the page";
  EXPECT_TRUE(r->MayContain(At(kBase), 1 << 20));
  EXPECT_FALSE(r->MayContain(At(a), 0));
  // Far away, never registered: the page filter says no.
  EXPECT_FALSE(r->MayContain(At(0x7e5500000000), 4096));
  EXPECT_FALSE(r->MayContain(At(0x7e5500000000), 16 * 4096));
  EXPECT_FALSE(r->MayContain(At(kBase + 0x40000000), 4096));
}

TEST(LockRegistryTest, FreshRegistryContainsNothing) {
  auto r = NewRegistry();
  int local = 0;
  EXPECT_FALSE(r->MayContain(&local, sizeof local));
  EXPECT_FALSE(r->MayContain(At(kBase), 1 << 20));
}

TEST(LockRegistryTest, HundredThousandInsertsAndRemovesKeepLiveCount) {
  auto r = NewRegistry();
  constexpr size_t kN = 100000;  // spans several node chunks
  std::vector<NodeId> ids(kN);
  auto addr = [](size_t k) { return kBase + 0x1000000 + k * 24; };
  for (size_t k = 0; k < kN; ++k) {
    ids[k] = MustInsert(*r, addr(k));
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_EQ(r->LiveCount(), kN);
  EXPECT_EQ(std::set<NodeId>(ids.begin(), ids.end()).size(), kN) << "ids must be distinct";
  for (size_t k = 0; k < kN; ++k) ASSERT_EQ(r->Lookup(At(addr(k))), ids[k]) << k;

  // Remove every other lock, recycle, and register new ones at the freed addresses.
  for (size_t k = 0; k < kN; k += 2) {
    ASSERT_EQ(r->Remove(At(addr(k))), ids[k]);
    r->Recycle(ids[k]);
  }
  EXPECT_EQ(r->LiveCount(), kN / 2);
  for (size_t k = 0; k < kN; ++k) {
    ASSERT_EQ(r->Lookup(At(addr(k))), k % 2 ? ids[k] : 0u) << k;
  }
  const uint32_t limit_before = r->IndexLimit();
  for (size_t k = 0; k < kN; k += 2) {
    NodeId id = MustInsert(*r, addr(k));
    ASSERT_FALSE(r->IsLive(ids[k]));
    ids[k] = id;
  }
  EXPECT_EQ(r->LiveCount(), kN);
  EXPECT_EQ(r->IndexLimit(), limit_before) << "recycled node slots must be reused";
  EXPECT_EQ(r->EverRegistered(), kN + kN / 2);

  for (size_t k = 0; k < kN; ++k) {
    ASSERT_EQ(r->Remove(At(addr(k))), ids[k]);
    r->Recycle(ids[k]);
  }
  EXPECT_EQ(r->LiveCount(), 0u);
  for (size_t k = 0; k < kN; k += 997) EXPECT_EQ(r->Lookup(At(addr(k))), 0u);
}

// Locks created and destroyed at ever new addresses (one live at a time) must never fill the
// index. Regression test: with tombstone deletion, tombstones were only reused by an Insert()
// probing through them and never purged, so after ~11.56M such lifetimes every Insert() returned 0
// ("more than 0 live locks"). ~3 s.
TEST(LockRegistryTest, ChurnAtDistinctAddressesNeverFillsTheIndex) {
  auto r = NewRegistry();
  for (uint64_t k = 0; k < 12000000; ++k) {
    bool is_new = false;
    const uintptr_t a = kBase + k * 64;
    NodeId id = r->Insert(At(a), LockClass::kMutex, &is_new);
    ASSERT_NE(id, 0u) << "registry full after " << k << " lifetimes with "
                      << r->LiveCount() << " live locks";
    ASSERT_EQ(r->Remove(At(a)), id);
    r->Recycle(id);
  }
}

// Two threads look up while a third inserts and removes. A Lookup may return a stale id (the
// caller validates with IsLive), but never an id that belonged to another address. The stable
// locks are registered before the churn starts, so no removal can move their index slots (in
// linear probing, only entries placed after the removed one are shifted back): they must be
// found every time.
// With `lock_free_frees`, the churn thread frees as free() does under the shim (RemoveRange with
// its ReclaimList: no mutex, the node taken over by the next lock at that address).
void RunConcurrentLookups(const std::vector<uintptr_t>& stable,
                          const std::vector<uintptr_t>& churn, bool lock_free_frees = false) {
  auto r = NewRegistry();
  std::unordered_map<uintptr_t, NodeId> stable_id;
  for (uintptr_t a : stable) stable_id[a] = MustInsert(*r, a);

  // The churn thread logs every id it was given; ids are never reissued (generations), so the log
  // is an exact id -> address map once the threads have joined.
  constexpr size_t kOps = 200000;
  std::vector<std::pair<NodeId, uintptr_t>> issued;
  issued.reserve(kOps);
  std::atomic<bool> done{false};
  std::thread churner([&] {
    ReclaimList reclaim;
    std::mt19937 rng(99);
    std::vector<NodeId> live(churn.size(), 0);
    for (size_t op = 0; op < kOps; ++op) {
      size_t k = rng() % churn.size();
      if (live[k] == 0) {
        bool is_new = false;
        live[k] = r->Insert(At(churn[k]), LockClass::kMutex, &is_new);
        issued.emplace_back(live[k], churn[k]);
      } else if (lock_free_frees) {
        RangeRemoval removal{r.get(), {}};
        r->RemoveRange(At(churn[k]), 8, &RangeRemoval::OnRemoved, &removal, true, &reclaim);
        if (!removal.ids.empty()) ADD_FAILURE() << "a lock outside the graph reached the callback";
        if (r->IsLive(live[k])) ADD_FAILURE() << "freed, still live: " << live[k];
        live[k] = 0;
      } else {
        NodeId id = r->Remove(At(churn[k]));
        if (id != live[k]) ADD_FAILURE() << "Remove returned " << id << ", expected " << live[k];
        r->Recycle(id);
        live[k] = 0;
      }
    }
    r->Reclaim(reclaim);
    done.store(true);
  });

  struct Seen {
    std::vector<std::pair<uintptr_t, NodeId>> hits;  // (looked-up address, returned id)
    size_t stable_misses = 0, lookups = 0;
  };
  std::vector<Seen> seen(2);
  auto lookup = [&](Seen* s, uint32_t seed) {
    std::mt19937 rng(seed);
    s->hits.reserve(1 << 20);
    while (!done.load(std::memory_order_relaxed)) {
      ++s->lookups;
      if (rng() % 2) {
        uintptr_t a = stable[rng() % stable.size()];
        if (r->Lookup(At(a)) != stable_id.at(a)) ++s->stable_misses;
      } else {
        uintptr_t a = churn[rng() % churn.size()];
        NodeId id = r->Lookup(At(a));
        if (id != 0 && s->hits.size() < s->hits.capacity()) s->hits.emplace_back(a, id);
      }
    }
  };
  std::thread t1(lookup, &seen[0], 1u), t2(lookup, &seen[1], 2u);
  churner.join();
  t1.join();
  t2.join();

  std::unordered_map<NodeId, uintptr_t> owner;
  for (const auto& [id, a] : issued) {
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(owner.emplace(id, a).second) << "id " << id << " issued twice";
  }
  size_t hits = 0;
  for (const Seen& s : seen) {
    EXPECT_EQ(s.stable_misses, 0u) << "a registered lock was not found (of " << s.lookups << ")";
    for (const auto& [a, id] : s.hits) {
      auto it = owner.find(id);
      ASSERT_NE(it, owner.end()) << "Lookup returned an id never issued: " << id;
      ASSERT_EQ(it->second, a) << "Lookup(" << std::hex << a << ") returned the id of "
                               << it->second;
    }
    hits += s.hits.size();
  }
  EXPECT_GT(hits, 0u) << "the lookups never overlapped the churn";
  // Afterwards, everything agrees with the final state.
  for (uintptr_t a : churn) {
    NodeId id = r->Lookup(At(a));
    if (id != 0) {
      EXPECT_TRUE(r->IsLive(id));
      EXPECT_EQ(r->Node(id).addr.load(), a);
    }
  }
}

TEST(LockRegistryTest, ConcurrentLookupNeverReturnsAnotherLocksId) {
  // Stable and churning locks interleaved in one region.
  std::vector<uintptr_t> stable, churn;
  for (size_t k = 0; k < 320; ++k) (k % 5 == 0 ? churn : stable).push_back(kBase + k * 16);
  RunConcurrentLookups(stable, churn);
}

TEST(LockRegistryTest, ConcurrentLookupNeverReturnsAnotherLocksIdWithLockFreeFrees) {
  std::vector<uintptr_t> stable, churn;
  for (size_t k = 0; k < 320; ++k) (k % 5 == 0 ? churn : stable).push_back(kBase + k * 16);
  RunConcurrentLookups(stable, churn, /*lock_free_frees=*/true);
}

// ---- Frees without the mutex (ReclaimList) -------------------------------------------------

// Frees [a, a+size) as free() does under the shim; returns the ids that reached the callback.
std::vector<NodeId> FreeAsTheShimDoes(LockRegistry& r, uintptr_t a, size_t size,
                                      ReclaimList& list) {
  RangeRemoval removal{&r, {}};
  r.RemoveRange(At(a), size, &RangeRemoval::OnRemoved, &removal, true, &list);
  return removal.ids;
}

// `first`'s node is on the free list exactly once: of two new locks, one gets it.
void ExpectRecycledOnce(LockRegistry& r, NodeId first, uintptr_t b_addr, uintptr_t c_addr) {
  const NodeId b = MustInsert(r, b_addr), c = MustInsert(r, c_addr);
  EXPECT_EQ(IndexOf(b), IndexOf(first)) << "not recycled";
  EXPECT_NE(IndexOf(c), IndexOf(first)) << "recycled twice";
  EXPECT_NE(b, first);
}

TEST(LockRegistryTest, LockFreeFreeKillsAtOnceAndTheNextLockThereTakesTheNodeOver) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x500040;
  const NodeId first = MustInsert(*r, a);
  r->Node(first).acquisitions.store(5);
  r->Node(first).first_site_pc.store(0x1234);
  ReclaimList list;
  EXPECT_TRUE(FreeAsTheShimDoes(*r, a, 64, list).empty()) << "not in the graph: no callback";
  EXPECT_EQ(list.count, 1u);
  EXPECT_FALSE(r->IsLive(first));
  EXPECT_EQ(r->Lookup(At(a)), 0u);
  EXPECT_EQ(r->Find(At(a)), 0u);
  bool is_new = false;
  const NodeId second = r->Insert(At(a), LockClass::kRwLock, &is_new);
  ASSERT_NE(second, 0u);
  EXPECT_TRUE(is_new);
  EXPECT_EQ(IndexOf(second), IndexOf(first)) << "the node was not taken over";
  EXPECT_NE(second, first);
  EXPECT_TRUE(r->IsLive(second));
  EXPECT_FALSE(r->IsLive(first));
  EXPECT_EQ(r->Node(second).acquisitions.load(), 0u) << "the new lock inherited counts";
  EXPECT_EQ(r->Node(second).first_site_pc.load(), 0u);
  EXPECT_EQ(r->Node(second).cls, LockClass::kRwLock);
  EXPECT_EQ(r->Lookup(At(a)), second);
  EXPECT_EQ(r->EverRegistered(), 2u);
  EXPECT_EQ(r->Insert(At(a), LockClass::kMutex, &is_new), second);
  EXPECT_FALSE(is_new);
  r->Reclaim(list);  // the node lives again: nothing to give back
  EXPECT_EQ(list.count, 0u);
  EXPECT_EQ(r->Lookup(At(a)), second);
  EXPECT_EQ(r->LiveCount(), 1u);
}

TEST(LockRegistryTest, ReclaimGivesAFreedLocksSlotAndNodeBackOnce) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x510000;
  const NodeId first = MustInsert(*r, a);
  ReclaimList list;
  FreeAsTheShimDoes(*r, a, 8, list);
  EXPECT_EQ(r->LiveCount(), 1u) << "counted until reclaimed";
  r->Reclaim(list);
  EXPECT_EQ(r->LiveCount(), 0u);
  EXPECT_EQ(r->Lookup(At(a)), 0u);
  ExpectRecycledOnce(*r, first, kBase + 0x520000, kBase + 0x530000);
  const NodeId again = MustInsert(*r, a);  // a fresh slot for the old address
  EXPECT_NE(IndexOf(again), IndexOf(first));
  EXPECT_EQ(r->LiveCount(), 3u);
}

TEST(LockRegistryTest, LockFreeFreeLeavesALockInTheGraphToTheCallback) {
  auto r = NewRegistry();
  const uintptr_t lo = kBase + 0x540000;
  const NodeId plain = MustInsert(*r, lo), graphed = MustInsert(*r, lo + 64);
  r->Node(graphed).in_graph.store(true);
  ReclaimList list;
  EXPECT_EQ(FreeAsTheShimDoes(*r, lo, 128, list), std::vector<NodeId>{graphed})
      << "its edges must be forgotten";
  EXPECT_FALSE(r->IsLive(plain));
  EXPECT_FALSE(r->IsLive(graphed));
  EXPECT_EQ(r->Lookup(At(lo + 64)), 0u);
  r->Reclaim(list);
  EXPECT_EQ(r->LiveCount(), 0u);
}

TEST(LockRegistryTest, LockedRemovalAfterALockFreeFreeLeavesTheNodeToTheList) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x550000;
  const NodeId first = MustInsert(*r, a);
  ReclaimList list;
  FreeAsTheShimDoes(*r, a, 8, list);
  EXPECT_EQ(r->Remove(At(a)), 0u) << "dead already: the caller must not recycle it";
  RangeRemoval removal{r.get(), {}};
  r->RemoveRange(At(a), 8, &RangeRemoval::OnRemoved, &removal, true);  // the locked walk
  EXPECT_TRUE(removal.ids.empty());
  r->Reclaim(list);
  EXPECT_EQ(r->LiveCount(), 0u);
  ExpectRecycledOnce(*r, first, kBase + 0x560000, kBase + 0x570000);
}

// A lock freed without the mutex that gets an edge anyway (another thread's learning marked it
// in_graph just after the free): the next lock at its address gets a fresh node, not that one.
TEST(LockRegistryTest, ANodeMarkedInTheGraphAfterItsLockFreeFreeIsNotTakenOver) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x580000;
  const NodeId first = MustInsert(*r, a);
  ReclaimList list;
  FreeAsTheShimDoes(*r, a, 8, list);
  r->Node(first).in_graph.store(true);
  bool is_new = false;
  const NodeId second = r->Insert(At(a), LockClass::kMutex, &is_new);
  ASSERT_NE(second, 0u);
  EXPECT_TRUE(is_new);
  EXPECT_NE(IndexOf(second), IndexOf(first));
  EXPECT_EQ(r->Lookup(At(a)), second);
  r->Reclaim(list);
  EXPECT_EQ(r->LiveCount(), 1u);
  EXPECT_EQ(r->Lookup(At(a)), second);
}

// Threads that each create, free and re-create locks at their own addresses without the mutex,
// while a fourth looks every address up: ids stay exact, and everything is given back.
TEST(LockRegistryTest, ConcurrentLockFreeChurnGivesEveryNodeBack) {
  auto r = NewRegistry();
  constexpr int kThreads = 3, kAddrs = 200, kOps = 100000;
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ReclaimList list;
      std::mt19937 rng(t + 7);
      std::vector<NodeId> live(kAddrs, 0);
      for (int op = 0; op < kOps; ++op) {
        const int k = static_cast<int>(rng() % kAddrs);
        const uintptr_t a = kBase + 0x600000 + (static_cast<uintptr_t>(k) * kThreads + t) * 24;
        if (live[k] == 0) {
          bool is_new = false;
          live[k] = r->Insert(At(a), LockClass::kMutex, &is_new);
          if (live[k] == 0 || !is_new || r->Node(live[k]).addr.load() != a) ++wrong;
        } else {
          if (!FreeAsTheShimDoes(*r, a, 24, list).empty()) ++wrong;
          if (r->IsLive(live[k]) || r->Lookup(At(a)) != 0) ++wrong;
          live[k] = 0;
        }
      }
      for (int k = 0; k < kAddrs; ++k) {
        if (live[k] == 0) continue;
        FreeAsTheShimDoes(*r, kBase + 0x600000 + (static_cast<uintptr_t>(k) * kThreads + t) * 24,
                          24, list);
      }
      r->Reclaim(list);
    });
  }
  std::thread looker([&] {
    while (!done.load()) {
      for (int k = 0; k < kAddrs * kThreads; ++k) {
        const uintptr_t a = kBase + 0x600000 + static_cast<uintptr_t>(k) * 24;
        const NodeId id = r->Lookup(At(a));
        if (id == 0) continue;
        // Still that lock after the address was read (a node serves another address only with a
        // new generation; a removal zeroes the address of a lock it is about to kill).
        const uintptr_t seen = r->Node(id).addr.load();
        if (r->IsLive(id) && seen != a && seen != 0) ++wrong;
      }
    }
  });
  for (auto& t : threads) t.join();
  done.store(true);
  looker.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(r->LiveCount(), 0u) << "nodes not given back";
  for (int k = 0; k < kAddrs * kThreads; ++k) {
    EXPECT_EQ(r->Lookup(At(kBase + 0x600000 + static_cast<uintptr_t>(k) * 24)), 0u);
  }
}

// Two threads that create and free locks at the same few addresses (as a use-after-free would):
// every way into a node (a lock-free rebirth, the locked path's, a lock-free or locked kill)
// races with the others. A node's generation only grows, and afterwards every node is given
// back exactly once.
TEST(LockRegistryTest, RacingRebirthsAtOneAddressNeverTakeAGenerationBack) {
  auto r = NewRegistry();
  constexpr int kThreads = 4, kAddrs = 2, kOps = 300000;
  const uintptr_t lo = kBase + 0x700000;
  std::atomic<bool> done{false};
  std::atomic<int> backwards{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ReclaimList list;
      std::mt19937 rng(t + 11);
      for (int op = 0; op < kOps; ++op) {
        const uintptr_t a = lo + (rng() % kAddrs) * 64;
        if (rng() % 2 == 0) {
          bool is_new = false;
          const NodeId id = r->Insert(At(a), LockClass::kMutex, &is_new);
          if (id == 0 || (GenerationOf(id) & 1) == 0) ++wrong;
        } else if (rng() % 8 == 0) {
          RangeRemoval removal{r.get(), {}};  // the locked walk
          r->RemoveRange(At(a), 8, &RangeRemoval::OnRemoved, &removal, true);
        } else {
          FreeAsTheShimDoes(*r, a, 8, list);
        }
        if (list.count >= ReclaimList::kMax / 2) r->Reclaim(list);
      }
      r->Reclaim(list);
    });
  }
  std::thread watcher([&] {
    std::vector<uint32_t> last(64, 0);
    while (!done.load()) {
      const uint32_t limit = std::min<uint32_t>(r->IndexLimit(), 64);
      for (uint32_t i = 1; i < limit; ++i) {
        const uint32_t gen = r->NodeAt(i).generation.load();
        if (gen < last[i]) ++backwards;
        last[i] = std::max(last[i], gen);
      }
    }
  });
  for (auto& t : threads) t.join();
  done.store(true);
  watcher.join();
  EXPECT_EQ(backwards.load(), 0) << "a node's generation went back: one id named two locks";
  EXPECT_EQ(wrong.load(), 0);
  ReclaimList list;
  for (int k = 0; k < kAddrs; ++k) FreeAsTheShimDoes(*r, lo + k * 64, 8, list);
  r->Reclaim(list);
  EXPECT_EQ(r->LiveCount(), 0u);
  // The free list holds each node once: as many new locks as nodes ever made get distinct ones.
  const uint32_t made = r->IndexLimit() - 1;
  std::set<uint32_t> indices;
  for (uint32_t k = 0; k < made; ++k) {
    indices.insert(IndexOf(MustInsert(*r, kBase + 0x780000 + k * 64)));
  }
  EXPECT_EQ(indices.size(), made) << "a node was handed out twice";
}

// fork() copies a rebirth in progress in another thread (the node's address claimed) and the
// thread does not come along: the child gives the claim back, and the next lock there is
// registered (without the clear it would wait forever for the claim to end).
TEST(LockRegistryTest, AClaimLeftByAThreadForkDidNotCopyIsGivenBack) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x7c0000;
  const NodeId first = MustInsert(*r, a);
  ReclaimList list;
  FreeAsTheShimDoes(*r, a, 8, list);
  LockNode& node = r->Node(first);
  node.addr.store(a | (uintptr_t{1} << 63));  // as ReviveLockFree leaves it mid-reset
  EXPECT_EQ(r->Lookup(At(a)), 0u);
  EXPECT_EQ(LockRegistry::AddressOf(node), a) << "readers of the address see the lock's";
  r->ClearClaimAfterFork(IndexOf(first));
  EXPECT_EQ(node.addr.load(), a);
  bool is_new = false;
  const NodeId second = r->Insert(At(a), LockClass::kMutex, &is_new);
  EXPECT_TRUE(is_new);
  EXPECT_EQ(IndexOf(second), IndexOf(first));
  EXPECT_EQ(r->Lookup(At(a)), second);
  r->ClearClaimAfterFork(0);  // no claim noted: nothing to do
  r->ClearClaimAfterFork(r->IndexLimit());
  EXPECT_EQ(r->Lookup(At(a)), second);
}

// Find() is exact: a lock whose node is being given a new life without the mutex at that
// moment (the address claimed) is waited for, not reported absent.
TEST(LockRegistryTest, FindWaitsForARebirthInProgressInsteadOfMissingTheLock) {
  auto r = NewRegistry();
  const uintptr_t a = kBase + 0x7d0000;
  MustInsert(*r, a);
  ReclaimList list;
  FreeAsTheShimDoes(*r, a, 8, list);
  ClaimStopper stopper;
  NodeId reborn = 0;
  std::thread creator([&] {
    bool is_new = false;
    reborn = r->Insert(At(a), LockClass::kMutex, &is_new);
  });
  if (!stopper.WaitUntilInside(std::chrono::seconds(5))) {
    creator.join();
    FAIL() << "the lock was not born again without the mutex";
  }
  std::thread releaser([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ClaimStopper::Release();
  });
  const NodeId found = r->Find(At(a));
  releaser.join();
  creator.join();
  ASSERT_NE(reborn, 0u);
  EXPECT_EQ(found, reborn) << "Find missed a lock that was being born again";
  r->Reclaim(list);
}

// The registry's index hash (private in registry.h), replicated only to pick addresses whose
// probe sequences overlap. Should it change, the test still holds, with fewer collisions.
size_t HomeSlot(uintptr_t a) {
  uint64_t x = a >> 6;  // by 64-byte line
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<size_t>(x) & ((size_t{1} << LockRegistry::kFirstIndexBits) - 1);
}

TEST(LockRegistryTest, ConcurrentLookupInOneProbeClusterNeverReturnsAnotherLocksId) {
  // 128 locks whose home slots lie in one 128-slot window: one long probe cluster, so removals
  // move (shift or overwrite) the very slots the lookups are reading.
  std::vector<uintptr_t> stable, churn;
  for (uintptr_t a = kBase; stable.size() + churn.size() < 128; a += 8) {
    if (HomeSlot(a) < 128) (churn.size() * 3 < stable.size() ? churn : stable).push_back(a);
  }
  RunConcurrentLookups(stable, churn);
}

TEST(LockRegistryTest, RemoveRangeInsideOneWrappingProbeClusterRemovesExactlyTheRange) {
  // 160 locks whose home slots lie in the index's last 64 and first 64 slots: one probe cluster
  // that wraps around the end, so every removal shifts entries, some of them across the wrap.
  const size_t last = (size_t{1} << LockRegistry::kFirstIndexBits) - 1;
  std::vector<uintptr_t> addrs;  // ascending
  // 64 bytes apart, so that the 80 locks of the range span more than the probe path's limit.
  for (uintptr_t a = kBase; addrs.size() < 160; a += 64) {
    const size_t home = HomeSlot(a);
    if (home + 64 > last || home < 64) addrs.push_back(a);
  }
  std::vector<uintptr_t> order = addrs;
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  auto r = NewRegistry();
  std::unordered_map<uintptr_t, NodeId> ids;
  for (uintptr_t a : order) ids[a] = MustInsert(*r, a);

  const uintptr_t lo = addrs[40], hi = addrs[120];  // addrs[40..119]: 80 locks, > 1 batch
  ASSERT_GT(hi - lo, 64u * 1024) << "meant for the whole-index scan";
  RangeRemoval removal{r.get(), {}};
  r->RemoveRange(At(lo), hi - lo, &RangeRemoval::OnRemoved, &removal);

  std::set<NodeId> expected;
  for (size_t k = 40; k < 120; ++k) expected.insert(ids[addrs[k]]);
  EXPECT_EQ(std::set<NodeId>(removal.ids.begin(), removal.ids.end()), expected);
  EXPECT_EQ(removal.ids.size(), expected.size()) << "a lock was reported twice";
  for (size_t k = 0; k < addrs.size(); ++k) {
    const bool inside = k >= 40 && k < 120;
    EXPECT_EQ(r->Lookup(At(addrs[k])), inside ? 0u : ids[addrs[k]]) << k;
  }
  EXPECT_EQ(r->LiveCount(), addrs.size() - expected.size());
}

}  // namespace
}  // namespace lockaudit::core
