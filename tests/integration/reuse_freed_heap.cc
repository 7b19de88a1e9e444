// reuse_freed_heap: two heap mutexes are taken in the order A->B and deleted; new mutexes of the
// same size are then allocated, which malloc places at the freed addresses, and the two that sit
// at B's and A's old addresses are taken in that order, the reverse of the first pair's address
// order. std::mutex has a trivial destructor, so nothing but the freeing tells that the old locks
// are gone (DESIGN.md §2: a lock is its address while it lives).
// Prints whether the addresses were reused; if malloc did not hand them back, two fresh mutexes
// are taken in the order B'->A' instead and no finding is expected either.
// Expected under the shim: no finding.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>

namespace {

// Allocations tried while looking for the freed addresses; the array lives on the stack so the
// search itself does not take chunks of a mutex's size.
constexpr std::size_t kMaxCandidates = 64;

void LockPair(std::mutex& first, std::mutex& second) {
  std::lock_guard<std::mutex> hold_first(first);
  std::lock_guard<std::mutex> hold_second(second);
}

std::uintptr_t AddressOf(const std::mutex* mu) { return reinterpret_cast<std::uintptr_t>(mu); }

}  // namespace

int main() {
  auto* a = new std::mutex;
  auto* b = new std::mutex;
  LockPair(*a, *b);
  const std::uintptr_t old_a = AddressOf(a);
  const std::uintptr_t old_b = AddressOf(b);
  // Freed last, allocated first: the LIFO tcache hands the addresses back in the same order.
  delete b;
  delete a;

  std::array<std::mutex*, kMaxCandidates> candidates{};
  std::size_t allocated = 0;
  std::mutex* at_old_a = nullptr;
  std::mutex* at_old_b = nullptr;
  while (allocated < kMaxCandidates && (at_old_a == nullptr || at_old_b == nullptr)) {
    auto* mu = new std::mutex;
    candidates[allocated++] = mu;
    if (AddressOf(mu) == old_a) at_old_a = mu;
    if (AddressOf(mu) == old_b) at_old_b = mu;
  }
  const bool reused = at_old_a != nullptr && at_old_b != nullptr;
  std::printf("reuse_freed_heap: addresses reused: %s (%zu allocations)\n", reused ? "yes" : "no",
              allocated);
  if (reused) {
    LockPair(*at_old_b, *at_old_a);  // the reverse of the first pair's address order
  } else {
    LockPair(*candidates[1], *candidates[0]);
  }
  for (std::size_t i = 0; i < allocated; ++i) delete candidates[i];
  return 0;
}
