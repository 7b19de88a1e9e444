// <lockaudit/gtest.h>: lockaudit inside GoogleTest suites (CMake target lockaudit::gtest).
//
// A lock-order bug exercised by a test fails that test, with the full report (kind, locks, the
// stacks of every edge) in the failure message, instead of hanging a CI job once a month.
//
//   find_package(lockaudit REQUIRED)
//   target_link_libraries(my_tests PRIVATE lockaudit::gtest_main)  // main() with the listener
//   # or lockaudit::gtest, and call lockaudit::testing::InstallListener() in your own main()
//
//   TEST(Bank, TransferKeepsLockOrder) {
//     Bank bank;
//     LOCKAUDIT_EXPECT_NO_FINDINGS(bank.Transfer(a, b, 10); bank.Transfer(b, a, 5));
//   }
//   TEST(Bank, LegacyTransferIsReported) {
//     LOCKAUDIT_EXPECT_FINDING("lock_order_cycle", legacy.Transfer(a, b, 1); legacy.Transfer(b, a, 1));
//   }
//   TEST(Bank, ReportsTheCycle) {
//     lockaudit::testing::ScopedAudit audit;
//     legacy.Transfer(a, b, 1);
//     legacy.Transfer(b, a, 1);
//     EXPECT_THAT(audit.findings(), ElementsAre(lockaudit::testing::IsCycle("a.mu", "b.mu")));
//   }
//
// Works with the instrumented types (<lockaudit/mutex.h>) and with plain std::mutex/pthread locks
// when the test binary runs under the shim (LD_PRELOAD=liblockaudit_preload.so, or `lockaudit run`):
// either way it listens to the one engine of the process (lockaudit::on_finding).
//
// Attribution. gtest runs the tests of one binary one after the other, so "the test during which
// a finding was raised" is well defined: a finding raised on the thread running the test fails
// the test at once (the failure points at the acquisition that raised it); a finding raised on
// any other thread during the test (a thread the test spawned) is recorded and fails the same
// test when it ends, before gtest prints its result. ctest running several test binaries in
// parallel runs several processes, each with its own engine and listener.
//
// A finding outside every test (a static initialiser, a global Environment, a thread that
// outlived its test) fails the program: it is added as a failure outside any test at the end of
// the run (RUN_ALL_TESTS() then returns 1; the XML report shows it as "NonTestSuiteFailure"),
// and one raised later, after RUN_ALL_TESTS(), makes the process exit with status 1 at exit with
// a "lockaudit: ... outside any test" message (one raised by a static destructor that runs after
// that exit handler is only logged). Findings in a test suite's SetUpTestSuite() or
// TearDownTestSuite() fail that suite. With --gtest_list_tests nothing fails.
//
// Each distinct cycle is reported once per process: with --gtest_repeat, a
// cycle between the same two live locks fails the first iteration only. Locks that are destroyed
// and created again start clean.
//
// Hanging tests. An inversion that actually deadlocks blocks the test forever; the lock-order
// check above normally fails the test before that happens (the cycle is reported when its
// second order is first taken, even if the run would not have hung), and a double_lock is
// reported (and fails the test) *before* the thread blocks. When threads do deadlock, the
// engine's watchdog reports a `deadlock` finding within about LOCKAUDIT_STALL_MS (default
// 1000 ms) from its own thread while the test's threads stay blocked: the listener then fails
// the running test at once, prints "lockaudit: deadlock in test Suite.Name" with the report on
// stderr, and writes gtest's XML report (--gtest_output=xml) with that failure, all before
// LOCKAUDIT_ON_DEADLOCK=abort ends the process. Without abort the test stays hung until
// ctest's TIMEOUT (set one), but its name and report are already out.
//
// Thread-safety: every function and macro here may be used from any thread. The shared state
// (current test, active scopes) is guarded by a spin lock on std::atomic_flag, which no
// front-end audits (a std::mutex would be audited under the shim); gtest is called only outside
// it.
// Cost: nothing on the lock hot path; work happens only when a finding is raised.
#ifndef LOCKAUDIT_GTEST_H_
#define LOCKAUDIT_GTEST_H_

#include <gtest/gtest.h>

#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "lockaudit/audit.h"
#include "lockaudit/mutex.h"

namespace lockaudit {

// gtest/gmock value printer: "lock_order_cycle: potential deadlock: ..." (kind and message; the
// full text report is in Finding::text).
LOCKAUDIT_PUBLIC void PrintTo(const Finding& finding, std::ostream* os);

namespace testing {

// Appends the lockaudit listener to gtest's listeners. Call it in main() after
// ::testing::InitGoogleTest() and before RUN_ALL_TESTS() (lockaudit::gtest_main does). Findings
// raised before this call count as raised outside any test. Calling it again does nothing.
LOCKAUDIT_PUBLIC void InstallListener();

// The finding kinds of the report (docs/report.md: "lock_order_cycle", "double_lock", ...).
LOCKAUDIT_PUBLIC const std::vector<std::string>& FindingKinds();

// While it lives, findings of the given kinds (all kinds when the list is empty) do not fail the
// running test (or the program), from any thread. They are still written to the lockaudit log
// and listed by lockaudit::findings(). A kind that is not in FindingKinds() fails the test.
//
//   lockaudit::testing::ScopedAllowFindings allow({"lock_order_cycle"});
//
// Thread-safety: construct and destroy it on one thread; scopes nest.
class LOCKAUDIT_PUBLIC ScopedAllowFindings {
 public:
  ScopedAllowFindings();  // every kind
  ScopedAllowFindings(std::initializer_list<std::string_view> kinds);
  ~ScopedAllowFindings();
  ScopedAllowFindings(const ScopedAllowFindings&) = delete;
  ScopedAllowFindings& operator=(const ScopedAllowFindings&) = delete;

  // Whether `kind` is allowed by this scope.
  bool Allows(std::string_view kind) const;

 private:
  std::vector<std::string> kinds_;  // empty: all
};

// Captures the findings raised (on any thread) while it lives, for gmock matchers:
//
//   lockaudit::testing::ScopedAudit audit;
//   ... code under test ...
//   EXPECT_THAT(audit.findings(), ElementsAre(IsCycle("a", "b")));
//
// Captured findings are the scope's to check: the listener does not fail the test for them. A
// ScopedAudit that captured findings but whose findings() was never called fails the test when
// it is destroyed (so a forgotten check cannot hide a bug). Constructed with a list of kinds, it
// captures only those; other findings go on to the listener (and fail the test).
//
// Invariants: scopes nest; a finding goes to the innermost live ScopedAudit that captures its
// kind. Thread-safety: construct and destroy it on one thread; findings() may be called from
// any thread.
class LOCKAUDIT_PUBLIC ScopedAudit {
 public:
  ScopedAudit();  // every kind
  explicit ScopedAudit(std::initializer_list<std::string_view> kinds);
  ~ScopedAudit();
  ScopedAudit(const ScopedAudit&) = delete;
  ScopedAudit& operator=(const ScopedAudit&) = delete;

  // The findings captured so far, oldest first. Marks them as inspected.
  std::vector<Finding> findings() const;

  // Whether this scope captures findings of `kind`.
  bool Captures(std::string_view kind) const;

 private:
  friend struct AuditAccess;
  std::vector<std::string> kinds_;  // empty: all
  std::vector<Finding> captured_;   // guarded by the module's spin lock
  mutable bool inspected_ = false;  // guarded by the module's spin lock
};

// Matches a lock_order_cycle finding whose locks have exactly these names (as a set: any
// rotation, any order; a name given twice must appear twice).
//   EXPECT_THAT(audit.findings(), ElementsAre(IsCycle("accounts", "audit_log")));
LOCKAUDIT_PUBLIC ::testing::Matcher<const Finding&> IsCycle(std::vector<std::string> lock_names);
template <class... Names>
::testing::Matcher<const Finding&> IsCycle(const Names&... lock_names) {
  return IsCycle(std::vector<std::string>{std::string(lock_names)...});
}
// Matches a finding of `kind` ("double_lock", ...).
LOCKAUDIT_PUBLIC ::testing::Matcher<const Finding&> IsFinding(std::string kind);

namespace internal {

// Implementation of the macros below; not for direct use.
LOCKAUDIT_PUBLIC bool IsKnownKind(std::string_view kind);
LOCKAUDIT_PUBLIC ::testing::AssertionResult NoFindingsResult(const ScopedAudit& audit,
                                                            const char* text);
// `audit` is null when `kind` is unknown.
LOCKAUDIT_PUBLIC ::testing::AssertionResult HasFindingResult(std::string_view kind,
                                                            const ScopedAudit* audit,
                                                            const char* text);
LOCKAUDIT_PUBLIC ::testing::AssertionResult HeldResult(const void* lock, const char* expr,
                                                      bool want_held);

// Predicate formatters for EXPECT_PRED_FORMAT2/3 (gtest's public macros): `text` is the
// statement as written, `statement` a lambda running it.
template <class Fn>
::testing::AssertionResult NoFindingsFormat(const char*, const char*, const char* text,
                                            const Fn& statement) {
  ScopedAudit audit;
  statement();
  return NoFindingsResult(audit, text);
}

template <class Kind, class Fn>
::testing::AssertionResult HasFindingFormat(const char*, const char*, const char*,
                                            const Kind& kind, const char* text,
                                            const Fn& statement) {
  const std::string_view k(kind);
  if (!IsKnownKind(k)) {
    statement();
    return HasFindingResult(k, nullptr, text);
  }
  ScopedAudit audit{k};
  statement();
  return HasFindingResult(k, &audit, text);
}

template <class Lock>
::testing::AssertionResult HeldFormat(const char* expr, const Lock& m) {
  if constexpr (detail::kEnabled) {
    if (!::lockaudit::is_held(m)) return HeldResult(&m, expr, true);
  }
  return ::testing::AssertionSuccess();
}
template <class Lock>
::testing::AssertionResult NotHeldFormat(const char* expr, const Lock& m) {
  if constexpr (detail::kEnabled) {
    if (::lockaudit::is_held(m)) return HeldResult(&m, expr, false);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace internal
}  // namespace testing
}  // namespace lockaudit

// Every assertion of lockaudit is spelled LOCKAUDIT_{EXPECT,ASSERT}_...; they are built on
// gtest's public EXPECT_PRED_FORMAT / ASSERT_PRED_FORMAT only.
//
// LOCKAUDIT_EXPECT_NO_FINDINGS(statement): runs the statement (it may contain commas, e.g.
// `std::scoped_lock l(a, b)`) and fails, printing every finding's text report, if any finding
// was raised meanwhile on any thread. Those findings fail the test once, through this macro.
#define LOCKAUDIT_EXPECT_NO_FINDINGS(...)                                            \
  EXPECT_PRED_FORMAT2(::lockaudit::testing::internal::NoFindingsFormat, #__VA_ARGS__, \
                      ([&]() { __VA_ARGS__; }))
#define LOCKAUDIT_ASSERT_NO_FINDINGS(...)                                            \
  ASSERT_PRED_FORMAT2(::lockaudit::testing::internal::NoFindingsFormat, #__VA_ARGS__, \
                      ([&]() { __VA_ARGS__; }))

// LOCKAUDIT_EXPECT_FINDING(kind, statement): runs the statement and fails unless at least one
// finding of `kind` (a string such as "lock_order_cycle") was raised meanwhile. The findings of
// that kind are expected: they do not fail the test. Findings of other kinds still do.
#define LOCKAUDIT_EXPECT_FINDING(kind, ...)                                                \
  EXPECT_PRED_FORMAT3(::lockaudit::testing::internal::HasFindingFormat, (kind), #__VA_ARGS__, \
                      ([&]() { __VA_ARGS__; }))
#define LOCKAUDIT_ASSERT_FINDING(kind, ...)                                                \
  ASSERT_PRED_FORMAT3(::lockaudit::testing::internal::HasFindingFormat, (kind), #__VA_ARGS__, \
                      ([&]() { __VA_ARGS__; }))

// LOCKAUDIT_ASSERT_HELD(m): a gtest failure (instead of lockaudit::assert_held's abort) unless
// the calling thread holds `m` (a lockaudit:: lock; under the shim, any std:: or pthread lock).
// The _EXPECT_ forms continue the test. With -DLOCKAUDIT_ENABLED=0 they always pass.
#define LOCKAUDIT_ASSERT_HELD(m) \
  ASSERT_PRED_FORMAT1(::lockaudit::testing::internal::HeldFormat, m)
#define LOCKAUDIT_EXPECT_HELD(m) \
  EXPECT_PRED_FORMAT1(::lockaudit::testing::internal::HeldFormat, m)
#define LOCKAUDIT_ASSERT_NOT_HELD(m) \
  ASSERT_PRED_FORMAT1(::lockaudit::testing::internal::NotHeldFormat, m)
#define LOCKAUDIT_EXPECT_NOT_HELD(m) \
  EXPECT_PRED_FORMAT1(::lockaudit::testing::internal::NotHeldFormat, m)

#endif  // LOCKAUDIT_GTEST_H_
