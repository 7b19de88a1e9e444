// shared_mutex_cycle: thread 1 holds g_table_mu exclusively and then reads under g_index_mu
// (shared); later thread 2 holds g_index_mu exclusively and reads under g_table_mu. A writer
// waiting for a shared lock the other writer blocks deadlocks like a mutex.
// Expected under the shim: one lock_order_cycle with two edges.
#include <mutex>
#include <shared_mutex>
#include <thread>

std::shared_mutex g_table_mu;
std::shared_mutex g_index_mu;

namespace {

void WriteThenRead(std::shared_mutex& written, std::shared_mutex& read) {
  std::unique_lock<std::shared_mutex> write_lock(written);
  std::shared_lock<std::shared_mutex> read_lock(read);
}

}  // namespace

int main() {
  std::thread first([] { WriteThenRead(g_table_mu, g_index_mu); });
  first.join();
  std::thread second([] { WriteThenRead(g_index_mu, g_table_mu); });
  second.join();
  return 0;
}
