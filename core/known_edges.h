// KnownEdges: a lock-free, insert-only set of 64-bit keys of facts that, once learned, make a
// later observation a no-op. The tracker keeps two: "saturated" lock-order edges (gate set
// already empty, modes already covered, already seen by two threads), and the second level of
// the per-thread context cache ((held set, lock, mode) contexts a thread incarnation has already
// learned, when its direct-mapped first level has evicted them). A thread that misses its first
// level checks these before it takes the graph mutex.
//
// Thread-safety: Contains() and Insert() are lock-free; Clear() may run concurrently with both
// (a reader then sees a key or zero: a false "unknown" only sends it to the locked path).
// Invariants: a key holds NodeIds with their generations, so a key of a destroyed lock never
// matches a live lock again (stale keys are harmless and vanish at the next Clear()).
// Cost: one hash probe sequence per edge; 8 MiB of virtual memory, of which the table uses the
// first 64 KiB and twice as much each time it is half full: its resident memory follows the
// keys it holds (8-32 bytes each), not the reservation. Full at 8 MiB, it is cleared.
#ifndef LOCKAUDIT_CORE_KNOWN_EDGES_H_
#define LOCKAUDIT_CORE_KNOWN_EDGES_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace lockaudit::core {

class KnownEdges {
 public:
  static constexpr size_t kSlots = size_t{1} << 20;
  static constexpr size_t kFirstSlots = size_t{1} << 13;
  static constexpr size_t kMaxProbe = 32;

  KnownEdges();
  ~KnownEdges();  // unmaps the table (the engine's never runs: it lives as long as the process)
  KnownEdges(const KnownEdges&) = delete;
  KnownEdges& operator=(const KnownEdges&) = delete;
  // `from_mode`/`to_mode`: 1 exclusive, 2 shared (as in LockOrderGraph::EdgeProps).
  static uint64_t Key(uint64_t from, uint64_t to, uint8_t from_mode, uint8_t to_mode);
  bool Contains(uint64_t key) const noexcept;
  void Insert(uint64_t key) noexcept;  // drops the key when its probe window is full
  void Clear() noexcept;               // when half full (keys of dead locks accumulate)

 private:
  std::atomic<uint64_t>* slots_ = nullptr;
  // The keys stored, counted per thread stripe (each on its own line: two threads inserting
  // at once do not write one counter in turn), summed into `approx_` every kSumEvery inserts
  // of a stripe; an insert reads only `approx_` (read-mostly), and growth the stripes too.
  static constexpr size_t kStripes = 16, kSumEvery = 64;
  struct alignas(64) Stripe {
    std::atomic<size_t> n{0};
  };
  Stripe stripes_[kStripes];
  std::atomic<size_t> approx_{0};
  size_t Count() const noexcept;  // the stripes' sum
  std::atomic<size_t> mask_{kFirstSlots - 1};  // slots in use - 1: grows, never shrinks but at Clear()
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_KNOWN_EDGES_H_
