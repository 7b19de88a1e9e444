// A test binary with deliberately failing tests, run by check_gtest_xml.py, which asserts on its
// gtest XML report: exactly the bad tests fail, each with its own finding in the message, and
// the good tests around them pass. Not a ctest test by itself.
//
// Usage: lockaudit_gtest_fixture [gtest flags] [MODE]
//   MODE (a finding outside every test): before (in main, before InstallListener),
//   environment (a global Environment's SetUp), suite (SetUpTestSuite of SuiteSetUpTest),
//   after (in main, after RUN_ALL_TESTS), after-allowed (the same inside a ScopedAllowFindings).
// Locks are lockaudit::mutex; the same binary also runs under the shim.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lockaudit/gtest.h>
#include <lockaudit/mutex.h>

#include <cstring>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::string g_mode;

void Invert(const char* first, const char* second) {
  lockaudit::mutex a(first), b(second);
  {
    std::lock_guard<lockaudit::mutex> la(a);
    std::lock_guard<lockaudit::mutex> lb(b);
  }
  {
    std::lock_guard<lockaudit::mutex> lb(b);
    std::lock_guard<lockaudit::mutex> la(a);
  }
}

void Nest(const char* first, const char* second) {
  lockaudit::mutex a(first), b(second);
  for (int i = 0; i < 2; ++i) {
    std::lock_guard<lockaudit::mutex> la(a);
    std::lock_guard<lockaudit::mutex> lb(b);
  }
}

TEST(FixtureTest, CleanNestingPasses) {
  Nest("fixture.clean_outer", "fixture.clean_inner");
  LOCKAUDIT_EXPECT_NO_FINDINGS(Nest("fixture.clean_a", "fixture.clean_b"));
}

// BAD: fails through the listener, on the test's own thread.
TEST(FixtureTest, InversionFails) { Invert("fixture.accounts", "fixture.ledger"); }

TEST(FixtureTest, ExpectedInversionPasses) {
  LOCKAUDIT_EXPECT_FINDING("lock_order_cycle", Invert("fixture.expected_a", "fixture.expected_b"));
}

TEST(FixtureTest, AllowedInversionPasses) {
  lockaudit::testing::ScopedAllowFindings allow({"lock_order_cycle"});
  Invert("fixture.allowed_a", "fixture.allowed_b");
}

// BAD: the finding is raised on a thread the test spawned; it must fail this test.
TEST(FixtureTest, InversionOnSpawnedThreadFails) {
  std::thread([] { Invert("fixture.spawned_a", "fixture.spawned_b"); }).join();
}

// Runs right after the spawned-thread test: nothing of it may leak here.
TEST(FixtureTest, TestAfterSpawnedThreadPasses) { Nest("fixture.after_a", "fixture.after_b"); }

TEST(FixtureTest, AuditWithMatchersPasses) {
  lockaudit::testing::ScopedAudit audit;
  Invert("fixture.audit_a", "fixture.audit_b");
  EXPECT_THAT(audit.findings(),
              ::testing::ElementsAre(lockaudit::testing::IsCycle("fixture.audit_b",
                                                                 "fixture.audit_a")));
}

class SuiteSetUpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (g_mode == "suite") Invert("fixture.suite_a", "fixture.suite_b");
  }
};
TEST_F(SuiteSetUpTest, Passes) {}

class InvertingEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { Invert("fixture.environment_a", "fixture.environment_b"); }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  g_mode = argc > 1 ? argv[1] : "";
  if (g_mode == "before") Invert("fixture.before_a", "fixture.before_b");
  if (g_mode == "environment") ::testing::AddGlobalTestEnvironment(new InvertingEnvironment);
  lockaudit::testing::InstallListener();
  int rc = RUN_ALL_TESTS();
  if (g_mode == "after") Invert("fixture.after_run_a", "fixture.after_run_b");
  if (g_mode == "after-allowed") {
    lockaudit::testing::ScopedAllowFindings allow;
    Invert("fixture.after_allowed_a", "fixture.after_allowed_b");
  }
  return rc;
}
