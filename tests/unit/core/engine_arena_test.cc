// The engine arena's load-time helpers: pages made resident ahead of use must never change what
// the engine wrote, and must be resident when they say so.
#include "engine_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

namespace lockaudit::core {
namespace {

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

// Pages of [p, p + bytes) resident now.
size_t ResidentPages(const void* p, size_t bytes) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  std::vector<unsigned char> vec((end - begin + kPage - 1) / kPage);
  if (mincore(reinterpret_cast<void*>(begin), end - begin, vec.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

size_t SpannedPages(const void* p, size_t bytes) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  return (reinterpret_cast<uintptr_t>(p) + bytes - begin + kPage - 1) / kPage;
}

bool KernelPopulates() {
  void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const bool ok = madvise(p, kPage, 23 /* MADV_POPULATE_WRITE */) == 0;
  munmap(p, kPage);
  return ok;
}

TEST(EngineArena, PrefaultKeepsContentsAndMakesPagesResident) {
  const size_t bytes = 16 * kPage;
  auto* p = static_cast<unsigned char*>(
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(p, MAP_FAILED);
  for (size_t i = 0; i < 4 * kPage; ++i) p[i] = static_cast<unsigned char>(i * 7 + 1);
  // An unaligned range, starting inside the written pages and ending in fresh ones.
  arena::PrefaultPages(p + 100, bytes - 200);
  for (size_t i = 0; i < 4 * kPage; ++i) {
    ASSERT_EQ(p[i], static_cast<unsigned char>(i * 7 + 1)) << "byte " << i;
  }
  for (size_t i = 4 * kPage; i < bytes; ++i) ASSERT_EQ(p[i], 0) << "byte " << i;
  EXPECT_EQ(ResidentPages(p, bytes), 16u);
  arena::PrefaultPages(nullptr, bytes);  // no-op
  arena::PrefaultPages(p, 0);
  munmap(p, bytes);
}

TEST(EngineArena, BlocksOfAClassAreResidentAheadAndKeepTheirContents) {
  if (!KernelPopulates()) GTEST_SKIP() << "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)";
  // A class nothing else in this test uses: 12 KB blocks.
  constexpr size_t kBlock = 12 * 1024;
  std::vector<unsigned char*> blocks;
  int fresh_chunks = 0;
  for (int k = 0; k < 40; ++k) {  // 480 KB: two chunks, many populate steps
    auto* b = static_cast<unsigned char*>(arena::Alloc(kBlock));
    ASSERT_NE(b, nullptr);
    // Resident before anyone wrote it: fresh pages of the chunk come in batches, not on
    // first write. (Without the batching, mincore() reports an unwritten page absent.)
    EXPECT_EQ(ResidentPages(b, kBlock), SpannedPages(b, kBlock)) << "block " << k;
    // The first block of a fresh chunk: the look-ahead window after it too.
    if ((reinterpret_cast<uintptr_t>(b) & (arena::kChunkBytes - 1)) <= 64) {
      const size_t window = kBlock + arena::kPopulateAheadBytes - 4096;
      EXPECT_EQ(ResidentPages(b, window), SpannedPages(b, window)) << "block " << k;
      ++fresh_chunks;
    }
    std::memset(b, k + 1, kBlock);
    blocks.push_back(b);
  }
  EXPECT_GE(fresh_chunks, 1);  // 480 KB of blocks: at least one chunk of 256 KB started here
  for (size_t k = 0; k < blocks.size(); ++k) {
    for (size_t i = 0; i < kBlock; i += 512) {
      ASSERT_EQ(blocks[k][i], static_cast<unsigned char>(k + 1)) << "block " << k << " byte " << i;
    }
  }
  for (unsigned char* b : blocks) arena::Free(b);
}

TEST(EngineArena, WarmUpMapsTheSmallClassesOnce) {
  arena::WarmUp(4096);
  const size_t mapped = arena::MappedBytes();
  // Every class up to 4 KB has a chunk now: a block of each maps nothing new.
  std::vector<void*> got;
  for (size_t bytes : {16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072,
                       4096}) {
    void* p = arena::Alloc(bytes);
    ASSERT_NE(p, nullptr) << bytes;
    std::memset(p, 0xab, bytes);
    got.push_back(p);
  }
  EXPECT_EQ(arena::MappedBytes(), mapped);
  arena::WarmUp(4096);  // again: nothing more
  EXPECT_EQ(arena::MappedBytes(), mapped);
  for (void* p : got) arena::Free(p);
}

}  // namespace
}  // namespace lockaudit::core
