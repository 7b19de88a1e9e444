// gate_lock: thread 1 takes g_mu_a then g_mu_b, thread 2 takes g_mu_b then g_mu_a, but both
// always do so while holding g_gate_mu. The A/B cycle cannot deadlock: only one thread at a time
// can be inside the gate.
// Expected under the shim: no finding, although the four edges gate->a, a->b, gate->b, b->a exist.
#include <mutex>
#include <thread>

std::mutex g_gate_mu;
std::mutex g_mu_a;
std::mutex g_mu_b;

namespace {

void LockPairUnderGate(std::mutex& first, std::mutex& second) {
  std::lock_guard<std::mutex> gate(g_gate_mu);
  std::lock_guard<std::mutex> hold_first(first);
  std::lock_guard<std::mutex> hold_second(second);
}

}  // namespace

int main() {
  std::thread first([] { LockPairUnderGate(g_mu_a, g_mu_b); });
  first.join();
  std::thread second([] { LockPairUnderGate(g_mu_b, g_mu_a); });
  second.join();
  return 0;
}
