#include "engine_arena.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "engine_mutex.h"

namespace lockaudit::core::arena {
namespace {

constexpr uint64_t kMagic = 0x6c6b61726e61ULL;  // "lkarna"
constexpr size_t kHeader = 64;                   // chunk header; blocks start after it
constexpr uint32_t kLargeClass = 0xffffffffu;

// Size classes: spacing of at most 25% above 64 bytes; every class is a multiple of 16, and a
// power of two up to 64 where alignment asks for it (ClassFor).
constexpr size_t kClassSize[] = {16,   32,   48,   64,    96,    128,   192,   256,
                                 384,  512,  768,  1024,  1536,  2048,  3072,  4096,
                                 6144, 8192, 12288, 16384, 24576, 32768, 49152, 65536};
constexpr uint32_t kClasses = sizeof kClassSize / sizeof kClassSize[0];
constexpr size_t kMaxSmall = kClassSize[kClasses - 1];

struct ChunkHeader {
  uint64_t magic;
  uint32_t cls;
  uint32_t align;       // large blocks: the block's offset from the chunk base
  size_t map_bytes;     // large blocks: the mapping's length
};
static_assert(sizeof(ChunkHeader) <= kHeader);

struct FreeBlock {
  FreeBlock* next;
};

// Registered chunk bases: open addressing, read without the mutex.
constexpr size_t kSetSlots = size_t{1} << 16;
constexpr uintptr_t kTombstone = 1;
std::atomic<uintptr_t> g_chunks[kSetSlots];

struct State {
  EngineMutex mu;
  FreeBlock* free_list[kClasses] = {};
  char* bump[kClasses] = {};  // next unused byte of the class's current chunk
  char* bump_end[kClasses] = {};
  // The end of the pages of the class's current chunk made resident so far (PopulateAhead).
  char* populated[kClasses] = {};
  std::atomic<size_t> mapped{0};
  size_t registered = 0;
};
State g_state;

size_t SlotOf(uintptr_t base) {
  return static_cast<size_t>(((base >> 18) * 0x9E3779B97F4A7C15ULL) >> (64 - 16));
}

bool Register(uintptr_t base) {
  if (g_state.registered >= kSetSlots * 3 / 4) return false;
  for (size_t i = SlotOf(base);; i = (i + 1) & (kSetSlots - 1)) {
    uintptr_t v = g_chunks[i].load(std::memory_order_relaxed);
    if (v == 0 || v == kTombstone) {
      g_chunks[i].store(base, std::memory_order_release);
      ++g_state.registered;
      return true;
    }
  }
}

void Unregister(uintptr_t base) {
  for (size_t i = SlotOf(base);; i = (i + 1) & (kSetSlots - 1)) {
    uintptr_t v = g_chunks[i].load(std::memory_order_relaxed);
    if (v == 0) return;
    if (v == base) {
      g_chunks[i].store(kTombstone, std::memory_order_release);
      return;  // the slot stays counted in `registered`: tombstones lengthen probes too
    }
  }
}

// Linux 5.14 (uapi asm-generic/mman-common.h); older headers lack the name.
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// A mapping of `bytes` (a multiple of kChunkBytes) aligned to kChunkBytes, or nullptr.
char* MapAligned(size_t bytes) {
  const size_t over = bytes + kChunkBytes;
  void* p = mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  uintptr_t raw = reinterpret_cast<uintptr_t>(p);
  uintptr_t base = (raw + kChunkBytes - 1) & ~(kChunkBytes - 1);
  if (base > raw) munmap(p, base - raw);
  uintptr_t end = base + bytes;
  if (raw + over > end) munmap(reinterpret_cast<void*>(end), raw + over - end);
  return reinterpret_cast<char*>(base);
}

ChunkHeader* HeaderOf(const void* p) {
  return reinterpret_cast<ChunkHeader*>(reinterpret_cast<uintptr_t>(p) & ~(kChunkBytes - 1));
}

// The smallest class holding `bytes` whose blocks are `align`-aligned, or kClasses.
uint32_t ClassFor(size_t bytes, size_t align) {
  for (uint32_t c = 0; c < kClasses; ++c) {
    if (kClassSize[c] >= bytes && kClassSize[c] % align == 0) return c;
  }
  return kClasses;
}

void* AllocLargeLocked(size_t bytes, size_t align) {
  const size_t offset = align > kHeader ? align : kHeader;
  if (offset >= kChunkBytes) return nullptr;
  const size_t map_bytes = (offset + bytes + kChunkBytes - 1) & ~(kChunkBytes - 1);
  if (map_bytes < bytes) return nullptr;  // overflow
  char* base = MapAligned(map_bytes);
  if (base == nullptr) return nullptr;
  if (!Register(reinterpret_cast<uintptr_t>(base))) {
    munmap(base, map_bytes);
    return nullptr;
  }
  auto* h = reinterpret_cast<ChunkHeader*>(base);
  h->magic = kMagic;
  h->cls = kLargeClass;
  h->align = static_cast<uint32_t>(offset);
  h->map_bytes = map_bytes;
  g_state.mapped.fetch_add(map_bytes, std::memory_order_relaxed);
  return base + offset;
}

// Fresh pages of a class's chunk are made resident kPopulateAheadBytes at a time, in one
// madvise, rather than one page fault per page as blocks are first written: where a fault is
// expensive (10-12 us per page in some virtual machines, against under 1 us per page
// populated in a batch) the engine's first allocations of a kind, and the adjacency vectors
// of a graph that grows, paid a fault per page. At most kPopulateAheadBytes resident bytes per
// class that no block uses yet.
constexpr uintptr_t kPageBytes = 4096;

void PopulateAhead(uint32_t c) {
  State& s = g_state;
  auto page_down = [](char* p) {
    return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~(kPageBytes - 1));
  };
  char* block = s.bump[c] - kClassSize[c];
  char* from = page_down(s.populated[c] > block ? s.populated[c] : block);
  char* to = page_down(s.bump[c] + kPopulateAheadBytes + kPageBytes - 1);
  if (to > s.bump_end[c]) to = s.bump_end[c];
  if (to > from) madvise(from, static_cast<size_t>(to - from), MADV_POPULATE_WRITE);
  s.populated[c] = to;  // (a kernel without the advice: the pages fault in as before)
}

void* AllocSmallLocked(uint32_t c) {
  State& s = g_state;
  if (FreeBlock* b = s.free_list[c]) {
    s.free_list[c] = b->next;
    return b;
  }
  const size_t size = kClassSize[c];
  if (s.bump[c] == nullptr || s.bump_end[c] - s.bump[c] < static_cast<ptrdiff_t>(size)) {
    char* base = MapAligned(kChunkBytes);
    if (base == nullptr) return nullptr;
    if (!Register(reinterpret_cast<uintptr_t>(base))) {
      munmap(base, kChunkBytes);
      return nullptr;
    }
    auto* h = reinterpret_cast<ChunkHeader*>(base);
    h->magic = kMagic;
    h->cls = c;
    h->align = 0;
    h->map_bytes = kChunkBytes;
    s.mapped.fetch_add(kChunkBytes, std::memory_order_relaxed);
    s.bump[c] = base + kHeader;
    s.bump_end[c] = base + kChunkBytes;
    s.populated[c] = base;
  }
  void* p = s.bump[c];
  s.bump[c] += size;
  if (s.bump[c] > s.populated[c]) PopulateAhead(c);
  return p;
}

}  // namespace

void* Alloc(size_t bytes, size_t align) noexcept {
  if (align < 16) align = 16;
  if ((align & (align - 1)) != 0) return nullptr;
  if (bytes == 0) bytes = 1;
  EngineLock lock(g_state.mu);
  const uint32_t c = (bytes <= kMaxSmall && align <= kHeader) ? ClassFor(bytes, align) : kClasses;
  if (c < kClasses) return AllocSmallLocked(c);
  return AllocLargeLocked(bytes, align);
}

void* Calloc(size_t count, size_t bytes) noexcept {
  size_t total = 0;
  if (__builtin_mul_overflow(count, bytes, &total)) return nullptr;
  void* p = Alloc(total);
  if (p != nullptr) memset(p, 0, total);
  return p;
}

size_t UsableSize(const void* p) noexcept {
  const ChunkHeader* h = HeaderOf(p);
  if (h->cls == kLargeClass) return h->map_bytes - h->align;
  return kClassSize[h->cls];
}

void* Realloc(void* p, size_t bytes) noexcept {
  if (p == nullptr) return Alloc(bytes);
  if (bytes == 0) {
    Free(p);
    return nullptr;
  }
  const size_t have = UsableSize(p);
  if (bytes <= have) return p;
  void* q = Alloc(bytes);
  if (q == nullptr) return nullptr;
  memcpy(q, p, have);
  Free(p);
  return q;
}

void Free(void* p) noexcept {
  if (p == nullptr) return;
  ChunkHeader* h = HeaderOf(p);
  EngineLock lock(g_state.mu);
  if (h->cls == kLargeClass) {
    const size_t map_bytes = h->map_bytes;
    Unregister(reinterpret_cast<uintptr_t>(h));
    g_state.mapped.fetch_sub(map_bytes, std::memory_order_relaxed);
    munmap(h, map_bytes);
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = g_state.free_list[h->cls];
  g_state.free_list[h->cls] = b;
}

bool Owns(const void* p) noexcept {
  if (p == nullptr) return false;
  const uintptr_t base = reinterpret_cast<uintptr_t>(p) & ~(kChunkBytes - 1);
  for (size_t i = SlotOf(base);; i = (i + 1) & (kSetSlots - 1)) {
    uintptr_t v = g_chunks[i].load(std::memory_order_acquire);
    if (v == 0) return false;
    if (v == base) return true;
  }
}

void PopulatePages(void* p, size_t bytes) noexcept {
  if (p != nullptr && bytes != 0) madvise(p, bytes, MADV_POPULATE_WRITE);
}

void WarmUp(size_t bytes) noexcept {
  EngineLock lock(g_state.mu);
  for (uint32_t c = 0; c < kClasses && kClassSize[c] <= bytes; ++c) {
    if (g_state.bump[c] != nullptr) continue;
    if (void* p = AllocSmallLocked(c)) {
      auto* b = static_cast<FreeBlock*>(p);  // straight back on the class's free list
      b->next = g_state.free_list[c];
      g_state.free_list[c] = b;
    }
  }
}

void PrefaultPages(void* p, size_t bytes) noexcept {
  if (p == nullptr || bytes == 0) return;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t first_page = begin & ~(kPageBytes - 1);  // (madvise wants it page-aligned)
  PopulatePages(reinterpret_cast<void*>(first_page), begin + bytes - first_page);
  for (uintptr_t a = first_page; a < begin + bytes; a += kPageBytes) {
    // volatile: a compiler may not turn an atomic add of 0 into a load (that would not write)
    __atomic_fetch_add(reinterpret_cast<volatile char*>(a < begin ? begin : a), 0,
                       __ATOMIC_RELAXED);
  }
}

size_t MappedBytes() noexcept { return g_state.mapped.load(std::memory_order_relaxed); }

// The fork handlers take the arena's mutex here and release it in another call.
void PrepareFork() noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS { g_state.mu.lock(); }
bool TryLockForFork() noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS { return g_state.mu.try_lock(); }
void ParentAfterFork() noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS { g_state.mu.unlock(); }
void ChildAfterFork() noexcept { g_state.mu.ResetAfterFork(); }

}  // namespace lockaudit::core::arena
