// recursive_mutex_cycle: recursion does not protect against inversion. Thread 1 takes g_rec_a,
// re-locks it, then takes g_rec_b; later thread 2 takes g_rec_b then g_rec_a.
// Expected under the shim: one lock_order_cycle with two edges (the re-lock adds nothing).
#include <mutex>
#include <thread>

std::recursive_mutex g_rec_a;
std::recursive_mutex g_rec_b;

int main() {
  std::thread first([] {
    std::lock_guard<std::recursive_mutex> outer(g_rec_a);
    std::lock_guard<std::recursive_mutex> again(g_rec_a);
    std::lock_guard<std::recursive_mutex> inner(g_rec_b);
  });
  first.join();
  std::thread second([] {
    std::lock_guard<std::recursive_mutex> outer(g_rec_b);
    std::lock_guard<std::recursive_mutex> inner(g_rec_a);
  });
  second.join();
  return 0;
}
