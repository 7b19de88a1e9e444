// lockaudit::gtest (<lockaudit/gtest.h>): the listener on the test thread, the macros, the
// allow and audit scopes, the matchers and the held-lock assertions. Linked with
// lockaudit::gtest_main, so the listener is installed: every test here must pass, and a finding
// that a helper failed to absorb fails the test that raised it.
//
// Failures the helpers are meant to produce are intercepted with gtest's own
// ScopedFakeTestPartResultReporter (Failures below), so each test checks the exact failures.
// Findings raised on other threads (reported when their test ends) and outside tests are checked
// on a separate binary's XML report (fixture.cc, check_gtest_xml.py).
#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <lockaudit/audit.h>
#include <lockaudit/gtest.h>
#include <lockaudit/mutex.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using ::lockaudit::testing::IsCycle;
using ::lockaudit::testing::IsFinding;
using ::lockaudit::testing::ScopedAllowFindings;
using ::lockaudit::testing::ScopedAudit;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// Takes two fresh locks in both orders on the calling thread: one lock_order_cycle.
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

// Takes a level-20 lock, then a level-10 one: one hierarchy_violation.
void BreakHierarchy(const char* high, const char* low) {
  lockaudit::mutex h(high, 20), l(low, 10);
  std::lock_guard<lockaudit::mutex> lh(h);
  std::lock_guard<lockaudit::mutex> ll(l);
}

// Takes two fresh locks nested, always in one order.
void Nest(const char* first, const char* second) {
  lockaudit::mutex a(first), b(second);
  for (int i = 0; i < 2; ++i) {
    std::lock_guard<lockaudit::mutex> la(a);
    std::lock_guard<lockaudit::mutex> lb(b);
  }
}

// The gtest failures reported on this thread while it lives (they do not fail the test).
class Failures {
 public:
  Failures()
      : reporter_(::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
                  &results_) {}
  std::vector<::testing::TestPartResult> Get() const {
    std::vector<::testing::TestPartResult> out;
    for (int i = 0; i < results_.size(); ++i) out.push_back(results_.GetTestPartResult(i));
    return out;
  }

 private:
  ::testing::TestPartResultArray results_;
  ::testing::ScopedFakeTestPartResultReporter reporter_;
};

std::vector<std::string> Messages(const std::vector<::testing::TestPartResult>& results) {
  std::vector<std::string> out;
  for (const auto& r : results) out.push_back(r.message());
  return out;
}

// ---- Listener (findings on the test thread) ------------------------------------------------

TEST(ListenerTest, FailsTheRunningTestWithTheReportAtTheAcquisition) {
  std::vector<::testing::TestPartResult> got;
  {
    Failures failures;
    Invert("listener.a", "listener.b");
    got = failures.Get();
  }
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_TRUE(got[0].nonfatally_failed());
  EXPECT_THAT(got[0].message(),
              AllOf(HasSubstr("lockaudit: lock_order_cycle: potential deadlock"),
                    HasSubstr("'listener.a'"), HasSubstr("'listener.b'"),
                    HasSubstr("gtest_test.cc:")));  // the stacks
  ASSERT_NE(got[0].file_name(), nullptr);
  EXPECT_THAT(got[0].file_name(), EndsWith("gtest_test.cc"));
  EXPECT_GT(got[0].line_number(), 0);
}

TEST(ListenerTest, ConsistentOrderDoesNotFail) {
  Failures failures;
  Nest("listener.outer", "listener.inner");
  EXPECT_THAT(failures.Get(), IsEmpty());
}

// ---- EXPECT_/LOCKAUDIT_ASSERT_NO_FINDINGS --------------------------------------------------------

TEST(NoFindingsMacroTest, PassesForCleanCodeAndTakesStatementsWithCommas) {
  lockaudit::mutex a("nofind.a"), b("nofind.b");
  Failures failures;
  LOCKAUDIT_EXPECT_NO_FINDINGS(std::scoped_lock both(a, b));
  LOCKAUDIT_EXPECT_NO_FINDINGS(a.lock(); b.lock(); b.unlock(); a.unlock());
  LOCKAUDIT_ASSERT_NO_FINDINGS(Nest("nofind.c", "nofind.d"));
  EXPECT_THAT(failures.Get(), IsEmpty());
}

TEST(NoFindingsMacroTest, FailsOnceWithTheStatementAndTheReport) {
  std::vector<::testing::TestPartResult> got;
  {
    Failures failures;
    LOCKAUDIT_EXPECT_NO_FINDINGS(Invert("nofind.x", "nofind.y"));
    got = failures.Get();
  }
  // One failure: the macro's. The listener must not report the same finding again.
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_TRUE(got[0].nonfatally_failed());
  EXPECT_THAT(got[0].message(),
              AllOf(HasSubstr("Invert(\"nofind.x\", \"nofind.y\")"),
                    HasSubstr("raises no lock findings"), HasSubstr("it raised 1"),
                    HasSubstr("lock_order_cycle"), HasSubstr("'nofind.x'"),
                    HasSubstr("'nofind.y'")));
}

bool g_after_assert = false;
void AssertNoFindingsThenContinue() {
  LOCKAUDIT_ASSERT_NO_FINDINGS(Invert("nofind.fatal_a", "nofind.fatal_b"));
  g_after_assert = true;
}

TEST(NoFindingsMacroTest, AssertFormIsFatal) {
  g_after_assert = false;
  EXPECT_FATAL_FAILURE(AssertNoFindingsThenContinue(), "raises no lock findings");
  EXPECT_FALSE(g_after_assert);
}

// ---- EXPECT_/LOCKAUDIT_ASSERT_FINDING ------------------------------------------------------------

TEST(LockFindingMacroTest, ExpectedFindingPassesAndDoesNotReachTheListener) {
  Failures failures;
  LOCKAUDIT_EXPECT_FINDING("lock_order_cycle", Invert("expect.a", "expect.b"));
  LOCKAUDIT_ASSERT_FINDING("hierarchy_violation", BreakHierarchy("expect.high", "expect.low"));
  EXPECT_THAT(failures.Get(), IsEmpty());
}

TEST(LockFindingMacroTest, FailsWhenNothingOfThatKindIsRaised) {
  Failures failures;
  LOCKAUDIT_EXPECT_FINDING("lock_order_cycle", Nest("expect.clean_a", "expect.clean_b"));
  EXPECT_THAT(Messages(failures.Get()),
              ElementsAre(AllOf(HasSubstr("Nest(\"expect.clean_a\", \"expect.clean_b\")"),
                                HasSubstr("raises a lock finding of kind 'lock_order_cycle'"),
                                HasSubstr("it raised none of that kind"))));
}

TEST(LockFindingMacroTest, FindingsOfOtherKindsStillFailThroughTheListener) {
  Failures failures;
  LOCKAUDIT_EXPECT_FINDING("hierarchy_violation", Invert("expect.other_a", "expect.other_b"));
  EXPECT_THAT(Messages(failures.Get()),
              ElementsAre(HasSubstr("lock_order_cycle"),  // the listener, during the statement
                          HasSubstr("raises a lock finding of kind 'hierarchy_violation'")));
}

TEST(LockFindingMacroTest, UnknownKindFailsAndStillRunsTheStatement) {
  Failures failures;
  bool ran = false;
  LOCKAUDIT_EXPECT_FINDING("lock_order_cyle", ran = true);
  EXPECT_TRUE(ran);
  EXPECT_THAT(Messages(failures.Get()),
              ElementsAre(HasSubstr("'lock_order_cyle' is not a lockaudit finding kind")));
}

bool g_after_assert_finding = false;
void AssertFindingThenContinue() {
  LOCKAUDIT_ASSERT_FINDING("lock_order_cycle", Nest("expect.fatal_a", "expect.fatal_b"));
  g_after_assert_finding = true;
}

TEST(LockFindingMacroTest, AssertFormIsFatal) {
  g_after_assert_finding = false;
  EXPECT_FATAL_FAILURE(AssertFindingThenContinue(), "raises a lock finding of kind");
  EXPECT_FALSE(g_after_assert_finding);
}

// ---- ScopedAllowFindings --------------------------------------------------------------------

TEST(AllowFindingsTest, AllowedKindDoesNotFailWhileInScope) {
  Failures failures;
  {
    ScopedAllowFindings allow({"lock_order_cycle"});
    Invert("allow.a", "allow.b");
    EXPECT_THAT(failures.Get(), IsEmpty());
  }
  Invert("allow.c", "allow.d");  // the scope has ended
  EXPECT_THAT(Messages(failures.Get()), ElementsAre(HasSubstr("'allow.c'")));
}

TEST(AllowFindingsTest, OtherKindsStillFail) {
  Failures failures;
  ScopedAllowFindings allow({"hierarchy_violation"});
  Invert("allow.other_a", "allow.other_b");
  BreakHierarchy("allow.high", "allow.low");
  EXPECT_THAT(Messages(failures.Get()), ElementsAre(HasSubstr("lock_order_cycle")));
}

TEST(AllowFindingsTest, EmptyListAllowsEveryKind) {
  Failures failures;
  ScopedAllowFindings allow;
  Invert("allow.all_a", "allow.all_b");
  BreakHierarchy("allow.all_high", "allow.all_low");
  EXPECT_THAT(failures.Get(), IsEmpty());
}

TEST(AllowFindingsTest, UnknownKindFails) {
  Failures failures;
  { ScopedAllowFindings allow({"deadlocks"}); }
  EXPECT_THAT(Messages(failures.Get()),
              ElementsAre(HasSubstr("'deadlocks' is not a finding kind")));
}

// A finding on another thread would fail this test when it ends (it cannot be intercepted on
// this thread): the test passes only if the scope covers other threads too.
TEST(AllowFindingsTest, CoversFindingsOnOtherThreads) {
  ScopedAllowFindings allow({"lock_order_cycle"});
  std::thread([] { Invert("allow.thread_a", "allow.thread_b"); }).join();
}

// ---- ScopedAudit and matchers ---------------------------------------------------------------

TEST(ScopedAuditTest, CapturesFindingsOfEveryThreadForMatchers) {
  ScopedAudit audit;
  Invert("audit.a", "audit.b");
  std::thread([] { Invert("audit.thread_a", "audit.thread_b"); }).join();
  EXPECT_THAT(audit.findings(), ElementsAre(IsCycle("audit.a", "audit.b"),
                                            IsCycle("audit.thread_b", "audit.thread_a")));
  EXPECT_FALSE(audit.findings()[0].text.empty());
}

TEST(ScopedAuditTest, IsCycleMatchesTheSetOfNamesInAnyRotation) {
  ScopedAudit audit;
  {
    lockaudit::mutex a("rot.a"), b("rot.b"), c("rot.c");
    {
      std::lock_guard<lockaudit::mutex> la(a);
      std::lock_guard<lockaudit::mutex> lb(b);
    }
    {
      std::lock_guard<lockaudit::mutex> lb(b);
      std::lock_guard<lockaudit::mutex> lc(c);
    }
    {
      std::lock_guard<lockaudit::mutex> lc(c);
      std::lock_guard<lockaudit::mutex> la(a);
    }
  }
  std::vector<lockaudit::Finding> found = audit.findings();
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_THAT(found[0], IsCycle("rot.a", "rot.b", "rot.c"));
  EXPECT_THAT(found[0], IsCycle("rot.c", "rot.a", "rot.b"));
  EXPECT_THAT(found[0], IsCycle(std::vector<std::string>{"rot.b", "rot.c", "rot.a"}));
  EXPECT_THAT(found[0], Not(IsCycle("rot.a", "rot.b")));
  EXPECT_THAT(found[0], Not(IsCycle("rot.a", "rot.b", "rot.c", "rot.d")));
  EXPECT_THAT(found[0], Not(IsFinding("double_lock")));
  EXPECT_EQ(::testing::DescribeMatcher<const lockaudit::Finding&>(IsCycle("x", "y")),
            "is a lock_order_cycle over exactly the locks {'x', 'y'}");
  ::testing::StringMatchResultListener why;
  EXPECT_FALSE(::testing::ExplainMatchResult(IsCycle("rot.a", "rot.b"), found[0], &why));
  EXPECT_EQ(why.str(), "which is a cycle over {'rot.a', 'rot.b', 'rot.c'}");
}

TEST(ScopedAuditTest, IsFindingMatchesTheKind) {
  ScopedAudit audit;
  BreakHierarchy("kind.high", "kind.low");
  std::vector<lockaudit::Finding> found = audit.findings();
  EXPECT_THAT(found, ElementsAre(IsFinding("hierarchy_violation")));
  EXPECT_THAT(found, ElementsAre(Not(IsCycle("kind.high", "kind.low"))));
  ::testing::StringMatchResultListener why;
  EXPECT_FALSE(::testing::ExplainMatchResult(IsFinding("double_lock"), found[0], &why));
  EXPECT_EQ(why.str(), "which is a hierarchy_violation finding");
}

TEST(ScopedAuditTest, KindListLeavesOtherKindsToTheListener) {
  Failures failures;
  {
    ScopedAudit audit({"hierarchy_violation"});
    Invert("filter.a", "filter.b");
    BreakHierarchy("filter.high", "filter.low");
    EXPECT_THAT(audit.findings(), ElementsAre(IsFinding("hierarchy_violation")));
  }
  EXPECT_THAT(Messages(failures.Get()), ElementsAre(HasSubstr("'filter.a'")));
}

TEST(ScopedAuditTest, InnermostScopeCaptures) {
  ScopedAudit outer;
  Invert("nest.outer_a", "nest.outer_b");
  {
    ScopedAudit inner;
    Invert("nest.inner_a", "nest.inner_b");
    EXPECT_THAT(inner.findings(), ElementsAre(IsCycle("nest.inner_a", "nest.inner_b")));
  }
  EXPECT_THAT(outer.findings(), ElementsAre(IsCycle("nest.outer_a", "nest.outer_b")));
}

TEST(ScopedAuditTest, UninspectedFindingsFailTheTest) {
  Failures failures;
  {
    ScopedAudit audit;
    Invert("unchecked.a", "unchecked.b");
  }
  EXPECT_THAT(Messages(failures.Get()),
              ElementsAre(AllOf(HasSubstr("captured 1 finding(s) that were never inspected"),
                                HasSubstr("'unchecked.a'"))));
}

TEST(ScopedAuditTest, PrintsFindingsByKindAndMessage) {
  ScopedAudit audit;
  Invert("print.a", "print.b");
  std::vector<lockaudit::Finding> found = audit.findings();
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_EQ(::testing::PrintToString(found[0]), "lock_order_cycle: " + found[0].message);
}

// ---- LOCKAUDIT_ASSERT_HELD / NOT_HELD -------------------------------------------------------

TEST(HeldAssertionTest, PassWhileHeldAndNotHeld) {
  lockaudit::mutex m("held.m");
  Failures failures;
  {
    std::lock_guard<lockaudit::mutex> lock(m);
    LOCKAUDIT_ASSERT_HELD(m);
    LOCKAUDIT_EXPECT_HELD(m);
  }
  LOCKAUDIT_ASSERT_NOT_HELD(m);
  LOCKAUDIT_EXPECT_NOT_HELD(m);
  EXPECT_THAT(failures.Get(), IsEmpty());
}

TEST(HeldAssertionTest, ExpectFormsFailWithTheLockName) {
  lockaudit::mutex m("held.named");
  Failures failures;
  LOCKAUDIT_EXPECT_HELD(m);
  {
    std::lock_guard<lockaudit::mutex> lock(m);
    LOCKAUDIT_EXPECT_NOT_HELD(m);
  }
  std::vector<::testing::TestPartResult> got = failures.Get();
  EXPECT_THAT(Messages(got),
              ElementsAre(AllOf(HasSubstr("Expected: m is held by this thread"),
                                HasSubstr("it is not held (lock 'held.named'")),
                          AllOf(HasSubstr("Expected: m is not held by this thread"),
                                HasSubstr("it is held (lock 'held.named'"))));
  for (const auto& r : got) EXPECT_TRUE(r.nonfatally_failed());
}

TEST(HeldAssertionTest, HeldByAnotherThreadIsNotHeld) {
  lockaudit::mutex m("held.other_thread");
  std::lock_guard<lockaudit::mutex> lock(m);
  std::thread([&] { EXPECT_NONFATAL_FAILURE(LOCKAUDIT_EXPECT_HELD(m), "is not held"); }).join();
}

lockaudit::mutex g_fatal_mu("held.fatal");
bool g_after_held = false;
void AssertHeldThenContinue() {
  LOCKAUDIT_ASSERT_HELD(g_fatal_mu);
  g_after_held = true;
}
void AssertNotHeldThenContinue() {
  std::lock_guard<lockaudit::mutex> lock(g_fatal_mu);
  LOCKAUDIT_ASSERT_NOT_HELD(g_fatal_mu);
  g_after_held = true;
}

TEST(HeldAssertionTest, AssertFormsAreFatalInsteadOfAborting) {
  g_after_held = false;
  EXPECT_FATAL_FAILURE(AssertHeldThenContinue(), "g_fatal_mu is held by this thread");
  EXPECT_FATAL_FAILURE(AssertNotHeldThenContinue(), "g_fatal_mu is not held by this thread");
  EXPECT_FALSE(g_after_held);
}

}  // namespace
