// std_mutex_cycle: a bank transfer locks the source account, then the destination account.
// Transferring checking -> savings and later savings -> checking takes the two account mutexes
// in opposite orders (the threads run one after the other, so the program never hangs).
// Expected under the shim: one lock_order_cycle with two edges.
#include <mutex>
#include <thread>

struct Account {
  std::mutex mu;
  long balance = 0;  // guarded by mu
};

Account g_checking;
Account g_savings;

namespace {

void Transfer(Account& from, Account& to, long amount) {
  std::lock_guard<std::mutex> hold_from(from.mu);
  std::lock_guard<std::mutex> hold_to(to.mu);
  from.balance -= amount;
  to.balance += amount;
}

}  // namespace

int main() {
  std::thread pay_in([] { Transfer(g_checking, g_savings, 100); });
  pay_in.join();
  std::thread pay_out([] { Transfer(g_savings, g_checking, 40); });
  pay_out.join();
  std::lock_guard<std::mutex> hold(g_savings.mu);
  return g_savings.balance == 60 ? 0 : 1;
}
