// cycle5: a lock-order cycle through 5 locks. Thread i takes g_ring_mu_i then
// g_ring_mu_((i+1) % 5) and finishes before thread i+1 starts, so the edges
// 0 -> 1 -> 2 -> 3 -> 4 -> 0 appear one after the other and the program never hangs.
// Expected under the shim: one lock_order_cycle with 5 edges (reported once, when the last edge
// closes it).
#include <cstddef>
#include <mutex>
#include <thread>

std::mutex g_ring_mu_0;
std::mutex g_ring_mu_1;
std::mutex g_ring_mu_2;
std::mutex g_ring_mu_3;
std::mutex g_ring_mu_4;

namespace {

constexpr std::size_t kRingSize = 5;
std::mutex* const kRing[kRingSize] = {
    &g_ring_mu_0, &g_ring_mu_1, &g_ring_mu_2, &g_ring_mu_3, &g_ring_mu_4};

void LockPair(std::mutex& first, std::mutex& second) {
  std::lock_guard<std::mutex> hold_first(first);
  std::lock_guard<std::mutex> hold_second(second);
}

}  // namespace

int main() {
  for (std::size_t i = 0; i < kRingSize; ++i) {
    std::thread link([i] { LockPair(*kRing[i], *kRing[(i + 1) % kRingSize]); });
    link.join();
  }
  return 0;
}
