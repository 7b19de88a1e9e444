// A user's GoogleTest suite against the installed lockaudit (lockaudit::gtest_main). run.sh
// checks its XML report: ConsumerGtestTest.InversionFails (deliberately bad) fails with the cycle
// in its message, the other tests pass.
#include <gtest/gtest.h>
#include <lockaudit/gtest.h>
#include <lockaudit/mutex.h>

#include <mutex>
#include <thread>

namespace {

void Invert(lockaudit::mutex& a, lockaudit::mutex& b) {
  std::thread([&] { std::scoped_lock l1(a); std::lock_guard l2(b); }).join();
  std::thread([&] { std::scoped_lock l1(b); std::lock_guard l2(a); }).join();
}

TEST(ConsumerGtestTest, InversionFails) {
  lockaudit::mutex a("consumer.gtest_a"), b("consumer.gtest_b");
  Invert(a, b);
}

TEST(ConsumerGtestTest, ExpectedInversionPasses) {
  lockaudit::mutex a("consumer.expected_a"), b("consumer.expected_b");
  LOCKAUDIT_EXPECT_FINDING("lock_order_cycle", Invert(a, b));
}

TEST(ConsumerGtestTest, AuditMatchesTheCycle) {
  lockaudit::mutex a("consumer.audit_a"), b("consumer.audit_b");
  lockaudit::testing::ScopedAudit audit;
  Invert(a, b);
  auto found = audit.findings();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(lockaudit::testing::IsCycle("consumer.audit_b", "consumer.audit_a").Matches(found[0]));
}

TEST(ConsumerGtestTest, CleanPasses) {
  lockaudit::mutex a("consumer.clean_a");
  std::lock_guard lock(a);
  LOCKAUDIT_ASSERT_HELD(a);
  LOCKAUDIT_EXPECT_NO_FINDINGS(std::thread([&] { LOCKAUDIT_EXPECT_NOT_HELD(a); }).join());
}

}  // namespace
