#include "static_data.h"

#include <elf.h>
#include <link.h>

#include <algorithm>
#include <atomic>

#include "engine_mutex.h"

namespace lockaudit::core::static_data {
namespace {

struct Range {
  uintptr_t begin = 0, end = 0;
};

struct Table {
  EngineMutex mu;                 // serializes Refresh()
  std::atomic<uint64_t> seq{0};   // odd while Refresh() writes
  std::atomic<size_t> count{0};
  Range ranges[kMaxRanges];       // sorted by begin, disjoint
};

// Constant-initialised with a trivial destructor: usable on the lock path before any
// constructor ran and during exit.
constinit Table g_table;

Table& T() { return g_table; }

uintptr_t Load(const uintptr_t& x) {
  return std::atomic_ref<uintptr_t>(const_cast<uintptr_t&>(x)).load(std::memory_order_relaxed);
}

struct Collected {
  Range ranges[kMaxRanges];
  size_t n = 0;
};

}  // namespace

void Refresh() {
  auto* found = new Collected();
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* arg) -> int {
        auto* out = static_cast<Collected*>(arg);
        for (int i = 0; i < info->dlpi_phnum && out->n < kMaxRanges; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W) || ph.p_memsz == 0) continue;
          const uintptr_t b = info->dlpi_addr + ph.p_vaddr;
          out->ranges[out->n++] = Range{b, b + ph.p_memsz};
        }
        return 0;
      },
      found);
  std::sort(found->ranges, found->ranges + found->n,
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  Table& t = T();
  {
    EngineLock lock(t.mu);
    t.seq.fetch_add(1, std::memory_order_relaxed);  // odd: readers wait
    std::atomic_thread_fence(std::memory_order_release);  // the odd count before the data
    for (size_t i = 0; i < found->n; ++i) {
      std::atomic_ref<uintptr_t>(t.ranges[i].begin).store(found->ranges[i].begin, std::memory_order_relaxed);
      std::atomic_ref<uintptr_t>(t.ranges[i].end).store(found->ranges[i].end, std::memory_order_relaxed);
    }
    t.count.store(found->n, std::memory_order_relaxed);
    t.seq.fetch_add(1, std::memory_order_release);
  }
  delete found;
}

bool Contains(uintptr_t addr) {
  const Table& t = T();
  // A refresh writes at most kMaxRanges pairs: a reader that finds one in progress spins for it
  // (a refresh runs in a constructor or after dlclose, so this is all but never).
  for (uint32_t attempt = 0; attempt < (1u << 20); ++attempt) {
    const uint64_t s1 = t.seq.load(std::memory_order_acquire);
    if (s1 & 1) {
      __builtin_ia32_pause();
      continue;
    }
    const size_t n = std::min(t.count.load(std::memory_order_relaxed), kMaxRanges);
    size_t lo = 0, hi = n;  // the first range with begin > addr is at `lo`
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (Load(t.ranges[mid].begin) <= addr) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    const bool in = lo > 0 && addr < Load(t.ranges[lo - 1].end);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (t.seq.load(std::memory_order_relaxed) == s1) return in;
  }
  return false;  // a refresh that never ends (a thread stopped inside it): not known as static
}

size_t RangeCount() { return T().count.load(std::memory_order_relaxed); }

uint64_t Generation() { return T().seq.load(std::memory_order_acquire); }

void ResetAfterFork() {
  Table& t = T();
  t.mu.ResetAfterFork();
  if (t.seq.load(std::memory_order_relaxed) & 1) {  // forked inside a refresh: an empty table
    t.count.store(0, std::memory_order_relaxed);
    t.seq.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace lockaudit::core::static_data
