// cycle_and_contention: a lock-order inversion (transfer between two accounts in both orders,
// 50 ms apart, so it never hangs) and a hot lock that four threads wait for: one report with a
// cycle, its stacks and a contention profile, for the HTML report (README):
//
//   build/bin/lockaudit run --report /tmp/r.jsonl -- build/bin/cycle_and_contention
//   build/bin/lockaudit report --format html -o /tmp/r.html /tmp/r.jsonl
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

std::mutex g_checking, g_savings, g_journal;
long g_balance[2], g_entries;

__attribute__((noinline)) void Transfer(std::mutex& from, std::mutex& to) {
  std::lock_guard<std::mutex> a(from);
  std::lock_guard<std::mutex> b(to);
  ++g_balance[0];
}

__attribute__((noinline)) void Journal() {
  std::lock_guard<std::mutex> lock(g_journal);
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
  while (std::chrono::steady_clock::now() < until) {
  }
  ++g_entries;
}

int main() {
  std::thread first([] { Transfer(g_checking, g_savings); });
  std::thread second([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Transfer(g_savings, g_checking);
  });
  std::vector<std::thread> writers;
  writers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([] {
      for (int i = 0; i < 200; ++i) Journal();
    });
  }
  for (std::thread& w : writers) w.join();
  first.join();
  second.join();
  return 0;
}
