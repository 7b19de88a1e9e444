// abba_two_threads: the classic potential deadlock. Thread 1 takes g_mu_a then g_mu_b and
// finishes; only then does thread 2 take g_mu_b then g_mu_a. The threads never overlap, so the
// program never hangs, but under another interleaving the two orders deadlock.
// Expected under the shim: one lock_order_cycle, two edges, not single-threaded, locks named
// g_mu_a and g_mu_b (from the symbol table).
#include <mutex>
#include <thread>

std::mutex g_mu_a;
std::mutex g_mu_b;

namespace {

void LockPair(std::mutex& first, std::mutex& second) {
  std::lock_guard<std::mutex> hold_first(first);
  std::lock_guard<std::mutex> hold_second(second);
}

}  // namespace

int main() {
  std::thread first([] { LockPair(g_mu_a, g_mu_b); });
  first.join();
  std::thread second([] { LockPair(g_mu_b, g_mu_a); });
  second.join();
  return 0;
}
