// transfer_inversion: a lock-order inversion that never deadlocks on its own.
//
// transfer(a, b) locks the source account, then the destination. One teller moves money from
// checking to savings; the other, 100 ms later, from savings to checking. Each critical section
// takes microseconds, so the second teller always finds both locks free: the program finishes,
// every time (50 of 50 runs here). `lockaudit run` reports the potential deadlock; `lockaudit
// confirm` proves it real by pausing the first teller between its two locks until the second
// arrives, and the program deadlocks:
//
//   build/bin/lockaudit run --report /tmp/t.jsonl -- build/bin/confirm_transfer_inversion
//   build/bin/lockaudit confirm /tmp/t.jsonl -- build/bin/confirm_transfer_inversion
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

struct Account {
  std::mutex mu;
  long balance = 1000;
};

Account checking, savings;

void Transfer(Account& from, Account& to, long amount) {
  std::lock_guard<std::mutex> source(from.mu);
  std::lock_guard<std::mutex> destination(to.mu);
  from.balance -= amount;
  to.balance += amount;
}

int main() {
  std::thread first([] { Transfer(checking, savings, 10); });
  std::thread second([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Transfer(savings, checking, 20);
  });
  first.join();
  second.join();
  std::printf("checking %ld, savings %ld\n", checking.balance, savings.balance);
  return 0;
}
