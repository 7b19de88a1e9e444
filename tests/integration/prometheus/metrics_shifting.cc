// metrics_shifting: an unmodified program (no lockaudit) for prometheus_series.py.
//
//  * hot_mu: a global std::mutex contended by 4 threads for the whole run, in no lock-order edge;
//    its metric label must be its data symbol, "hot_mu";
//  * g_phase_mu[0..5]: in phase k (PHASE_MS long) the 4 threads contend on g_phase_mu[k] much
//    more than on any other, so the hottest of them changes every phase and a per-scrape ranking
//    would reorder the series (and move counts between a lock's own series and "other");
//  * a heap std::mutex made and first locked inside a std::thread lambda: its site name must be
//    the lambda's own frame in this file, not std::thread's _M_run() in a libstdc++ header.
// Prints "phase <k>" when phase k starts, and "done" at the end.
// Usage: metrics_shifting PHASE_MS
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

std::mutex hot_mu;  // global, as in a real program

namespace {

constexpr int kThreads = 4;
constexpr int kPhases = 6;
std::mutex g_phase_mu[kPhases];
std::atomic<int> g_phase{0};
std::atomic<bool> g_stop{false};
unsigned long g_shared[kPhases + 1];

void Work(int id) {
  unsigned next = 17u * static_cast<unsigned>(id) + 1u;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const int phase = g_phase.load(std::memory_order_relaxed);
    for (int i = 0; i < 64; ++i) {
      {
        std::lock_guard<std::mutex> lock(hot_mu);
        ++g_shared[kPhases];
      }
      next = next * 1103515245u + 12345u;
      // 15 of 16 acquisitions on this phase's lock, the rest spread over all of them.
      const int k = (next >> 16) % 16 != 0 ? phase : static_cast<int>((next >> 8) % kPhases);
      std::lock_guard<std::mutex> lock(g_phase_mu[k]);
      for (int spin = 0; spin < 20; ++spin) ++g_shared[k];
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int phase_ms = argc > 1 ? atoi(argv[1]) : 400;
  std::thread maker([] {
    auto mu = std::make_unique<std::mutex>();
    for (int i = 0; i < 1000; ++i) {
      std::lock_guard<std::mutex> lock(*mu);
      ++g_shared[0];
    }
  });
  maker.join();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(Work, t);
  for (int k = 0; k < kPhases; ++k) {
    g_phase.store(k);
    printf("phase %d\n", k);
    fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms));
  }
  g_stop.store(true);
  for (auto& t : threads) t.join();
  printf("done\n");
  fflush(stdout);
  return 0;
}
