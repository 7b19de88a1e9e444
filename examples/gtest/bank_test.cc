// lockaudit in a GoogleTest suite: a small bank whose Transfer() locks accounts in argument
// order, the classic lock-order inversion. Copy it to start your own tests.
//
//   find_package(lockaudit REQUIRED)
//   add_executable(bank_test bank_test.cc)
//   target_link_libraries(bank_test PRIVATE lockaudit::gtest_main)
//
// Run build/bin/example_gtest: BankTest.OppositeTransfersCanDeadlock FAILS on purpose (the run
// never hangs, but the two transfers take the two account locks in opposite orders; the failure
// message is lockaudit's report with both stacks), the other two tests pass.
#include <gtest/gtest.h>
#include <lockaudit/gtest.h>
#include <lockaudit/mutex.h>

#include <mutex>
#include <string>
#include <thread>

namespace {

struct Account {
  Account(const std::string& name, long balance) : mu(name + ".mu"), balance(balance) {}
  lockaudit::mutex mu;
  long balance;
};

// BUG: locks in argument order; Transfer(a, b) and Transfer(b, a) can deadlock.
void Transfer(Account& from, Account& to, long amount) {
  std::lock_guard<lockaudit::mutex> from_lock(from.mu);
  std::lock_guard<lockaudit::mutex> to_lock(to.mu);
  lockaudit::assert_held(from.mu);
  from.balance -= amount;
  to.balance += amount;
}

// The fix: take both locks at once (std::scoped_lock orders them without deadlock).
void SafeTransfer(Account& from, Account& to, long amount) {
  std::scoped_lock both(from.mu, to.mu);
  from.balance -= amount;
  to.balance += amount;
}

// Fails: the listener reports the inversion as a failure of this test.
TEST(BankTest, OppositeTransfersCanDeadlock) {
  Account alice("alice", 100), bob("bob", 100);
  std::thread([&] { Transfer(alice, bob, 10); }).join();
  std::thread([&] { Transfer(bob, alice, 5); }).join();
  EXPECT_EQ(alice.balance + bob.balance, 200);
}

// Passes: the inversion is expected (for example, a test that pins a known bug).
TEST(BankTest, InversionIsReported) {
  Account carol("carol", 100), dave("dave", 100);
  LOCKAUDIT_EXPECT_FINDING("lock_order_cycle", Transfer(carol, dave, 10); Transfer(dave, carol, 5));
}

// Passes: the fixed transfer takes the locks in one order, whatever the arguments.
TEST(BankTest, SafeTransfersKeepOneOrder) {
  Account erin("erin", 100), frank("frank", 100);
  LOCKAUDIT_EXPECT_NO_FINDINGS(SafeTransfer(erin, frank, 10); SafeTransfer(frank, erin, 5));
  EXPECT_EQ(erin.balance, 95);
  EXPECT_EQ(frank.balance, 105);
}

}  // namespace
