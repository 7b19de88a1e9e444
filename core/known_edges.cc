#include "known_edges.h"

#include <sys/mman.h>

#include "engine_arena.h"
#include "hash.h"

namespace lockaudit::core {
namespace {
__thread char tls_stripe_marker __attribute__((tls_model("initial-exec")));
}  // namespace

KnownEdges::KnownEdges() {
  void* p = mmap(nullptr, kSlots * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  slots_ = static_cast<std::atomic<uint64_t>*>(p);
  // The slots in use first (64 KB), mapped now: the engine is built at load, and the first new
  // edges would otherwise each pay a page fault here while the program holds a lock.
  arena::PrefaultPages(p, kFirstSlots * sizeof(uint64_t));
}

KnownEdges::~KnownEdges() {
  if (slots_ != nullptr) munmap(slots_, kSlots * sizeof(uint64_t));
}

uint64_t KnownEdges::Key(uint64_t from, uint64_t to, uint8_t from_mode, uint8_t to_mode) {
  return Mix64(Mix64(from * 4 + from_mode) ^ (to * 4 + to_mode)) | 1;  // never 0 (empty)
}

bool KnownEdges::Contains(uint64_t key) const noexcept {
  if (slots_ == nullptr) return false;
  const size_t mask = mask_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kMaxProbe; ++i) {
    uint64_t v = slots_[(key + i) & mask].load(std::memory_order_relaxed);
    if (v == key) return true;
    if (v == 0) return false;
  }
  return false;
}

size_t KnownEdges::Count() const noexcept {
  size_t sum = 0;
  for (const Stripe& st : stripes_) sum += st.n.load(std::memory_order_relaxed);
  return sum;
}

void KnownEdges::Insert(uint64_t key) noexcept {
  if (slots_ == nullptr) return;
  size_t mask = mask_.load(std::memory_order_relaxed);
  if (approx_.load(std::memory_order_relaxed) >= (mask + 1) / 2 && Count() >= (mask + 1) / 2) {
    if (mask + 1 < kSlots) {
      // Grow: use twice the slots of the same reservation. Keys stored under the smaller mask
      // stay true facts; those the new mask no longer probes are merely unreachable.
      // The thread that grows it maps the new half now: otherwise each of its pages is first
      // read (the zero page) and then written (a copy-on-write fault and a TLB-shootdown IPI).
      const size_t old_slots = mask + 1;
      if (mask_.compare_exchange_strong(mask, mask * 2 + 1, std::memory_order_relaxed)) {
        arena::PopulatePages(slots_ + old_slots, old_slots * sizeof(uint64_t));
      }
      mask = mask_.load(std::memory_order_relaxed);
    } else {
      Clear();
    }
  }
  for (size_t i = 0; i < kMaxProbe; ++i) {
    std::atomic<uint64_t>& slot = slots_[(key + i) & mask];
    uint64_t v = slot.load(std::memory_order_relaxed);
    if (v == key) return;
    if (v == 0 && slot.compare_exchange_strong(v, key, std::memory_order_relaxed)) {
      // The stripe of this thread: a hash of its thread-local storage's address picks it.
      Stripe& stripe = stripes_[Mix64(reinterpret_cast<uintptr_t>(&tls_stripe_marker)) % kStripes];
      if ((stripe.n.fetch_add(1, std::memory_order_relaxed) + 1) % kSumEvery == 0) {
        // Not over a Clear() in between (its zero would be overwritten with the old count,
        // and the table grown to its end for nothing).
        // (A Clear() in between may have its zero overwritten with the old count: growth
        // checks the stripes themselves before it acts, so that costs a sum, not a growth.)
        approx_.store(Count(), std::memory_order_relaxed);
      }
      return;
    }
    if (v == key) return;
  }
}

void KnownEdges::Clear() noexcept {
  if (slots_ == nullptr) return;
  // Zero pages atomically per page for concurrent readers; the memory is returned as well.
  madvise(slots_, kSlots * sizeof(uint64_t), MADV_DONTNEED);
  for (Stripe& stripe : stripes_) stripe.n.store(0, std::memory_order_relaxed);
  approx_.store(0, std::memory_order_relaxed);
  mask_.store(kFirstSlots - 1, std::memory_order_relaxed);
}

}  // namespace lockaudit::core
