// metrics_many_locks: 10,000 named lockaudit::mutex (linked API, no shim), 4 threads contending
// on them unevenly, metrics served through lockaudit::serve_metrics(ADDRESS). For the
// cardinality test (prometheus_cardinality.py): at most LOCKAUDIT_MAX_SERIES + 1 `lock` series.
// Prints "port <N>" once serving, runs SECONDS, then exits 0.
// Usage: metrics_many_locks ADDRESS SECONDS
#include <lockaudit/lockaudit.h>
#include <lockaudit/mutex.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: metrics_many_locks ADDRESS SECONDS\n");
    return 2;
  }
  constexpr int kLocks = 10000;
  std::vector<std::unique_ptr<lockaudit::mutex>> locks;
  for (int i = 0; i < kLocks; ++i) {
    locks.push_back(std::make_unique<lockaudit::mutex>("many-" + std::to_string(i)));
  }
  for (auto& m : locks) {  // every lock acquired at least once: 10,000 names in the statistics
    m->lock();
    m->unlock();
  }
  const int port = lockaudit::serve_metrics(argv[1]);
  if (port < 0) return 1;
  printf("port %d\n", port);
  fflush(stdout);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      unsigned next = t + 1;
      while (!stop.load(std::memory_order_relaxed)) {
        next = next * 1103515245u + 12345u;
        // Skewed: low indices are hit far more often, so contention ranks them first.
        const int k = static_cast<int>((next >> 16) % 100) * static_cast<int>((next >> 8) % 100) % kLocks;
        std::lock_guard<lockaudit::mutex> lock(*locks[k]);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(atoi(argv[2])));
  stop = true;
  for (auto& th : threads) th.join();
  return 0;
}
