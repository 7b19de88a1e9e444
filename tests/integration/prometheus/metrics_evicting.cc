// metrics_evicting: an unmodified program (no lockaudit) for prometheus_series.py, made of the
// lock patterns that evict entries from each thread's lock cache all the time, so that the
// statistics of evicted entries are on the move while the exporter reads them:
//  * 2 threads take random ones of 4,096 global std::mutex (memcached's hashed item locks), each
//    while holding one of 8 "lru" mutexes half of the time;
//  * 1 thread creates a heap std::mutex, locks and unlocks it, and frees it, over and over (one
//    site: the evicted entries of one row).
// Runs RUN_MS (RUN_MS 0: until the file STOP_FILE exists, at most 90 s), then prints
// "ops <item> <lru> <churn>" (the acquisitions of the item, lru and heap mutexes: every lock the
// program takes) and "done", and stays alive HOLD_MS more, its threads too (a thread's exit
// retires its counts: a last scrape sees them where they were).
// Usage: metrics_evicting RUN_MS HOLD_MS [STOP_FILE]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

std::mutex g_item_mu[4096];
std::mutex g_lru_mu[8];

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_release{false};
std::atomic<int> g_finished{0};

// After the work: counted, then alive until released.
void Park() {
  g_finished.fetch_add(1);
  while (!g_release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}
unsigned long g_sink;

unsigned long Items(unsigned seed, unsigned long* lru_ops) {
  unsigned long ops = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 256; ++i) {
      seed = seed * 1103515245u + 12345u;
      std::mutex& item = g_item_mu[(seed >> 8) % 4096];
      if ((seed >> 20) & 1) {
        std::lock_guard<std::mutex> lru(g_lru_mu[(seed >> 24) % 8]);
        ++*lru_ops;
        std::lock_guard<std::mutex> lock(item);
        ++g_sink;
      } else {
        std::lock_guard<std::mutex> lock(item);
        ++g_sink;
      }
      ++ops;
    }
  }
  return ops;
}

unsigned long Churn() {
  unsigned long ops = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 256; ++i) {
      auto mu = std::make_unique<std::mutex>();
      std::lock_guard<std::mutex> lock(*mu);
      ++g_sink;
      ++ops;
    }
  }
  return ops;
}

}  // namespace

int main(int argc, char** argv) {
  const int run_ms = argc > 1 ? atoi(argv[1]) : 2000;
  const int hold_ms = argc > 2 ? atoi(argv[2]) : 2000;
  unsigned long item_ops[2] = {0, 0}, lru_ops[2] = {0, 0}, churn_ops = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&item_ops, &lru_ops, t] {
      item_ops[t] = Items(17u * t + 1, &lru_ops[t]);
      Park();
    });
  threads.emplace_back([&churn_ops] {
    churn_ops = Churn();
    Park();
  });
  if (run_ms == 0 && argc > 3) {
    for (int waited_ms = 0; access(argv[3], F_OK) != 0 && waited_ms < 90000; waited_ms += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(run_ms));
  }
  g_stop.store(true);
  while (g_finished.load() != 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  printf("ops %lu %lu %lu\ndone\n", item_ops[0] + item_ops[1], lru_ops[0] + lru_ops[1], churn_ops);
  fflush(stdout);
  std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
  g_release.store(true);
  for (auto& t : threads) t.join();
  return 0;
}
