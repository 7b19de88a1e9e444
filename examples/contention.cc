// contention: four threads share one lock through two hot paths. Each round calls Checkout()
// three times and Audit() once; both hold the lock for about 200 us and every call is followed
// by 50 us of unlocked work. So Checkout's waits add up to about three times Audit's. The program measures its own waits (the time each lock() call
// took) and prints them per path, so that the profile can be checked against it:
//
//   build/bin/lockaudit run --report /tmp/c.jsonl -- build/bin/contention
//   build/bin/lockaudit profile /tmp/c.jsonl -o /tmp/c.pb.gz && go tool pprof -top /tmp/c.pb.gz
//   build/bin/lockaudit profile --format folded /tmp/c.jsonl | flamegraph.pl > /tmp/c.svg
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

namespace {

std::mutex ledger_mu;
long ledger = 0;
std::atomic<long> checkout_wait_ns{0}, audit_wait_ns{0};
std::atomic<long> checkout_calls{0}, audit_calls{0};

using Clock = std::chrono::steady_clock;

void Spin(std::chrono::microseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
  }
}

long Nanos(Clock::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); }

// Unlocked work between calls: without it the thread that just released the lock takes it
// straight back (a mutex is not fair) and which call waits becomes a matter of scheduling.
void Think() { Spin(std::chrono::microseconds(50)); }

__attribute__((noinline)) void Checkout() {
  const auto t0 = Clock::now();
  std::lock_guard<std::mutex> lock(ledger_mu);
  checkout_wait_ns += Nanos(Clock::now() - t0);
  ++checkout_calls;
  ledger += 3;
  Spin(std::chrono::microseconds(200));
}

__attribute__((noinline)) void Audit() {
  const auto t0 = Clock::now();
  std::lock_guard<std::mutex> lock(ledger_mu);
  audit_wait_ns += Nanos(Clock::now() - t0);
  ++audit_calls;
  ledger -= 1;
  Spin(std::chrono::microseconds(200));
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 150;
  std::vector<std::thread> workers;
  workers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([rounds] {
      for (int i = 0; i < rounds; ++i) {
        Checkout();
        Think();
        Checkout();
        Think();
        Checkout();
        Think();
        Audit();
        Think();
      }
    });
  }
  for (std::thread& w : workers) w.join();
  std::printf("checkout: %ld calls, waited %ld ns\naudit: %ld calls, waited %ld ns\nledger %ld\n",
              checkout_calls.load(), checkout_wait_ns.load(), audit_calls.load(),
              audit_wait_ns.load(), ledger);
  return 0;
}
