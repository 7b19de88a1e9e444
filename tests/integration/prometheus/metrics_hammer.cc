// metrics_hammer: 4 threads lock and unlock 8 shared std::mutex as fast as they can, in rounds of
// ROUND_MS; after each round one line "round <index> <start_ns> <end_ns> <lock+unlock pairs>"
// (CLOCK_MONOTONIC) on stdout. An unmodified program for the scrape-load test
// (prometheus_scrape_load.py), which scrapes it from 50 clients during some of the rounds.
// Usage: metrics_hammer ROUNDS ROUND_MS
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 4;
constexpr int kLocks = 8;
std::mutex g_hammer_mu[kLocks];
std::atomic<unsigned long> g_pairs{0};
std::atomic<bool> g_stop{false};
unsigned long g_shared[kLocks];

long long NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void Hammer(int id) {
  unsigned long n = 0;
  unsigned next = id;
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 256; ++i) {
      next = next * 1103515245u + 12345u;
      const int k = (next >> 16) % kLocks;
      std::lock_guard<std::mutex> lock(g_hammer_mu[k]);
      ++g_shared[k];
    }
    n += 256;
    g_pairs.fetch_add(256, std::memory_order_relaxed);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 20;
  const int round_ms = argc > 2 ? atoi(argv[2]) : 500;
  if (rounds <= 0 || round_ms <= 0) {
    fprintf(stderr, "usage: metrics_hammer ROUNDS ROUND_MS\n");
    return 2;
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(Hammer, i);
  for (int r = 0; r < rounds; ++r) {
    const long long start = NowNs();
    const unsigned long before = g_pairs.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(round_ms));
    const unsigned long after = g_pairs.load();
    printf("round %d %lld %lld %lu\n", r, start, NowNs(), after - before);
    fflush(stdout);
  }
  g_stop = true;
  for (std::thread& t : threads) t.join();
  return 0;
}
