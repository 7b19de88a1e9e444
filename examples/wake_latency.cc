// wake_latency: a condition-variable ping-pong that measures its own wake latency.
//
// Two threads hand a token back and forth through one mutex and two condition variables. Before
// each notify the sender stamps the time; the woken thread reads the clock as soon as it runs
// again: that difference is the wake latency, measured here by the program itself. It prints
// p50/p99 of it and the round-trip time. Under the shim lockaudit measures the same thing for
// each condvar (lockaudit_cond_wake_latency_seconds); when lockaudit is present, the program
// also prints lockaudit's own p50/p99 for the same condvar, side by side:
//
//   build/bin/lockaudit run -- build/bin/wake_latency 20000
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

std::mutex g_table_mu;
std::condition_variable g_ping_cv;
std::condition_variable g_pong_cv;

namespace {
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

double Percentile(std::vector<int64_t> v, double q) {
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))]);
}
}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 20000;
  int turn = 0;  // 0: ping's turn, 1: pong's
  int64_t stamped = 0;
  std::vector<int64_t> ping_wakes, pong_wakes;
  ping_wakes.reserve(rounds);
  pong_wakes.reserve(rounds);

  std::thread pong([&] {
    for (int i = 0; i < rounds; ++i) {
      std::unique_lock<std::mutex> lock(g_table_mu);
      g_pong_cv.wait(lock, [&] { return turn == 1; });
      pong_wakes.push_back(NowNs() - stamped);
      turn = 0;
      stamped = NowNs();
      g_ping_cv.notify_one();
    }
  });
  const int64_t start = NowNs();
  for (int i = 0; i < rounds; ++i) {
    std::unique_lock<std::mutex> lock(g_table_mu);
    turn = 1;
    stamped = NowNs();
    g_pong_cv.notify_one();
    g_ping_cv.wait(lock, [&] { return turn == 0; });
    ping_wakes.push_back(NowNs() - stamped);
  }
  const int64_t elapsed = NowNs() - start;
  pong.join();

  std::printf("wake_latency: %d round trips, %.2f us per round trip\n", rounds,
              static_cast<double>(elapsed) / rounds / 1000.0);
  std::printf("  measured by the program: g_pong_cv p50 %.1f us p99 %.1f us; g_ping_cv p50 %.1f us p99 %.1f us\n",
              Percentile(pong_wakes, 0.5) / 1000, Percentile(pong_wakes, 0.99) / 1000,
              Percentile(ping_wakes, 0.5) / 1000, Percentile(ping_wakes, 0.99) / 1000);
  // lockaudit's own figures, when it is there (under the shim, or linked).
  using Quantiles = int (*)(const void*, double, double*);
  if (auto q = reinterpret_cast<Quantiles>(dlsym(RTLD_DEFAULT, "lockaudit_cond_wake_quantile"))) {
    double p50 = 0, p99 = 0, c50 = 0, c99 = 0;
    if (q(&g_pong_cv, 0.5, &p50) > 0 && q(&g_pong_cv, 0.99, &p99) > 0 &&
        q(&g_ping_cv, 0.5, &c50) > 0 && q(&g_ping_cv, 0.99, &c99) > 0) {
      std::printf("  measured by lockaudit:   g_pong_cv p50 %.1f us p99 %.1f us; g_ping_cv p50 %.1f us p99 %.1f us"
                  " (histogram estimates, x4 buckets)\n", p50 * 1e6, p99 * 1e6, c50 * 1e6, c99 * 1e6);
    }
  }
  return 0;
}
