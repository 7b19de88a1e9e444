// A bank whose transfer() locks the source account, then the destination: two transfers in
// opposite directions take the same two locks in opposite orders. This run never hangs (the
// transfers happen one after the other), but lockaudit reports the potential deadlock.
#include <cstdio>
#include <mutex>
#include <thread>

#include <lockaudit/mutex.h>

struct Account {
  explicit Account(const char* name, long balance) : mu(name), balance(balance) {}
  lockaudit::mutex mu;
  long balance;
};

// BUG: locks in argument order; transfer(a, b) and transfer(b, a) can deadlock.
void Transfer(Account& from, Account& to, long amount) {
  std::lock_guard<lockaudit::mutex> from_lock(from.mu);
  std::lock_guard<lockaudit::mutex> to_lock(to.mu);
  from.balance -= amount;
  to.balance += amount;
}

int main() {
  Account alice("alice.mu", 100), bob("bob.mu", 100);
  std::thread t1([&] { Transfer(alice, bob, 10); });
  t1.join();
  std::thread t2([&] { Transfer(bob, alice, 5); });
  t2.join();
  std::printf("balances: alice=%ld bob=%ld\n", alice.balance, bob.balance);
  return 0;
}
