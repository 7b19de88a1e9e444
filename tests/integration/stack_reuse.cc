// stack_reuse: two functions called one after the other from the same caller each keep a
// std::mutex on their stack; the two mutexes share an address. Restock takes its local lock
// then the global one; Audit takes the global one then its local lock. Different locks, no
// cycle: the second must not inherit the first one's edges. Exits 3 if the addresses differ
// (then the test would prove nothing).
#include <cstdio>
#include <mutex>

std::mutex g_ledger_mu;
void* g_first_addr = nullptr;
void* g_second_addr = nullptr;

template <int kWhich>
__attribute__((noinline)) void Frame() {
  std::mutex local;
  (kWhich == 0 ? g_first_addr : g_second_addr) = &local;
  if (kWhich == 0) {
    std::lock_guard<std::mutex> l1(local);
    std::lock_guard<std::mutex> l2(g_ledger_mu);
  } else {
    std::lock_guard<std::mutex> l1(g_ledger_mu);
    std::lock_guard<std::mutex> l2(local);
  }
  asm volatile("" ::: "memory");
}

int main() {
  Frame<0>();
  Frame<1>();
  std::printf("stack_reuse: %p %p (%s)\n", g_first_addr, g_second_addr,
              g_first_addr == g_second_addr ? "same address" : "different addresses");
  return g_first_addr == g_second_addr ? 0 : 3;
}
