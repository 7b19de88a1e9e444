// core/hot_path: the address arithmetic the fast path uses in place of the readable forms the
// slow path uses must name the same memory, for any lock address.
#include "hot_path.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>

namespace lockaudit::core {
namespace {

// CacheEntry computes &id_cache[CacheSlot(lock)] as a byte offset; both front-ends' fast paths
// use it, the tracker's slow path and the statistics use CacheSlot. A disagreement would make the
// fast path read one entry and the slow path fill another.
TEST(HotPathTest, CacheEntryIsTheEntryOfCacheSlot) {
  auto ts = std::make_unique<ThreadState>();
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 200000; ++i) {
    uintptr_t a = rng();
    if (i % 4 == 0) a &= ~uintptr_t{7};          // aligned, as pthread objects are
    if (i % 8 == 1) a &= 0x7fffffffffffULL;      // user-space addresses
    const void* lock = reinterpret_cast<const void*>(a);
    ASSERT_EQ(&CacheEntry(*ts, lock), &ts->id_cache[CacheSlot(lock)]) << std::hex << a;
  }
  // Neighbouring locks (an array of 40-byte pthread mutexes) land in different entries. (A fixed
  // address: for a few bases in each 1 MiB two of 64 neighbours share a slot, so a static array,
  // placed by the loader, would fail about 1 run in 256.)
  const uintptr_t base = 0x7f0000001000;
  for (int k = 1; k < 64; ++k) {
    EXPECT_NE(&CacheEntry(*ts, reinterpret_cast<const void*>(base)),
              &CacheEntry(*ts, reinterpret_cast<const void*>(base + 40 * k)))
        << k;
  }
}

// The fast path compares the node's generation with the id's high half read from memory.
TEST(HotPathTest, CachedGenerationIsGenerationOfTheId) {
  IdCacheEntry c{};
  for (uint64_t id : {MakeNodeId(1, 0), MakeNodeId(3, 7), MakeNodeId(0xfffffffdU, 0xffffffffU)}) {
    c.id = id;
    EXPECT_EQ(CachedGeneration(c), GenerationOf(id));
  }
}

}  // namespace
}  // namespace lockaudit::core
