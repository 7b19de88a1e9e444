// cycle_and_contention: a lock-order inversion (transfer between two accounts in both orders,
// 50 ms apart, so it never hangs), a hot lock that four threads wait for, and a queue whose
// consumer waits on a condition variable: one report with a cycle, its stacks, a contention
// profile, wait and hold times and wake latency, for the HTML report (README):
//
//   build/bin/lockaudit run --report /tmp/r.jsonl -- build/bin/cycle_and_contention
//   build/bin/lockaudit report --format html -o /tmp/r.html /tmp/r.jsonl
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

std::mutex g_checking, g_savings, g_journal;
long g_balance[2], g_entries;
std::mutex g_queue_mu;
std::condition_variable g_queue_cv;
int g_queued;

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

__attribute__((noinline)) void Consume(int items) {
  for (int i = 0; i < items; ++i) {
    std::unique_lock<std::mutex> lock(g_queue_mu);
    g_queue_cv.wait(lock, [] { return g_queued > 0; });
    --g_queued;
  }
}

int main() {
  std::thread consumer([] { Consume(40); });
  std::thread producer([] {
    for (int i = 0; i < 40; ++i) {
      {
        std::lock_guard<std::mutex> lock(g_queue_mu);
        ++g_queued;
      }
      g_queue_cv.notify_one();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
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
  producer.join();
  consumer.join();
  return 0;
}
