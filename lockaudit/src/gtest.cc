// lockaudit::gtest: the GoogleTest listener, the allow and audit scopes, the checks behind the
// macros and the matchers of <lockaudit/gtest.h>.
//
// One finding callback (the "hub", registered with lockaudit::on_finding on first use) routes
// every finding, on the thread that raised it:
//   1. to the innermost live ScopedAudit that captures its kind;   else
//   2. nowhere, if a live ScopedAllowFindings allows its kind;     else
//   3. if the listener is installed: to the running test (at once on the thread running the
//      tests, at the test's end from any other thread), to the running suite or the run (at once,
//      on the runner thread between tests), or to the "outside" list reported at the end of the
//      run, or at exit.
// Nothing here runs on the lock hot path. The engine calls the hub outside its own locks and
// without auditing the hub's own locking, so gtest may be called from it.
#include "lockaudit/gtest.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "spin_lock.h"
#include "user_frame.h"

namespace lockaudit {

void PrintTo(const Finding& finding, std::ostream* os) {
  *os << finding.kind << ": " << finding.message;
}

namespace testing {

// ScopedAudit's privates, for the hub.
struct AuditAccess {
  static void Capture(ScopedAudit& audit, const Finding& f) { audit.captured_.push_back(f); }
  static std::vector<Finding> TakeUninspected(ScopedAudit& audit) {
    if (audit.inspected_) return {};
    return std::move(audit.captured_);
  }
};

namespace {

// DESIGN.md §5.
const std::vector<std::string>& Kinds() {
  static const std::vector<std::string> kinds = {
      "lock_order_cycle",    "hierarchy_violation", "deadlock",
      "double_lock",         "unlock_not_held",     "destroy_held",
      "thread_exit_holding", "cond_mutex_mismatch", "wait_stall",
      "hold_stall",          "blocking_in_nonblocking",
      "gpu_sync_under_lock", "wake_budget",         "misaligned_lock",
      "blocking_under_lock", "lock_churn",          "rwlock_as_mutex",
      "lock_false_sharing",  "send_on_closed",      "channel_stall",
      "channel_leak"};
  return kinds;
}

std::string KindList() {
  std::string out;
  for (const std::string& k : Kinds()) out += (out.empty() ? "" : ", ") + k;
  return out;
}

using testing_internal::SpinLock;  // guards the state below (spin_lock.h)

struct LateFinding {
  Finding finding;
  uint32_t tid;  // the thread that raised it
};

// The listener's view of the run. Every field is guarded by `mu`.
// Invariants: `test` is set exactly between the listener's OnTestStart and OnTestEnd;
// `deferred` is empty whenever `test` is null; `audits` and `allows` list the live scopes,
// innermost last.
struct State {
  SpinLock mu;
  bool listening = false;                 // InstallListener() ran
  std::thread::id runner;                 // the thread running RUN_ALL_TESTS()
  bool in_iteration = false;              // between OnTestIterationStart and ...End
  const ::testing::TestInfo* test = nullptr;
  std::vector<LateFinding> deferred;      // raised on other threads while `test` ran
  std::vector<LateFinding> outside;       // raised outside every test, not yet reported
  std::vector<ScopedAudit*> audits;
  std::vector<const ScopedAllowFindings*> allows;
};
State& S() {
  static State* s = new State();  // never destroyed: findings may arrive during exit
  return *s;
}
using Guard = std::lock_guard<SpinLock>;

uint32_t Tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

using ::lockaudit::internal::TrimmedText;
using ::lockaudit::internal::UserFrame;

// Adds a non-fatal failure to whatever gtest is running now (a test, a suite's set-up, the run).
void ReportFailure(const Finding& f, const std::string& prefix) {
  const Frame* at = UserFrame(f);
  std::string message = prefix + TrimmedText(f);
  ADD_FAILURE_AT(at ? at->file.c_str() : "unknown file", at ? at->line : -1) << message;
}

// An actual deadlock during a test: its threads stay blocked, so the test never ends and gtest
// would never print or record it; with LOCKAUDIT_ON_DEADLOCK=abort the engine ends the process
// right after this returns. So: fail the running test now (gtest records a failure from any
// thread into the running test), name it on stderr, and write the XML report as it stands.
void ReportDeadlockNow(const Finding& f, const ::testing::TestInfo* test) {
  const std::string name =
      test ? std::string(test->test_suite_name()) + "." + test->name() : std::string("(no test)");
  ReportFailure(f, "lockaudit: deadlock in test " + name +
                       " (its threads are blocked for good; the report follows):\n");
  std::fflush(nullptr);
  std::fprintf(stderr, "lockaudit: deadlock in test %s:\n%s\n", name.c_str(),
               TrimmedText(f).c_str());
  ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  if (::testing::TestEventListener* xml = unit.listeners().default_xml_generator()) {
    xml->OnTestIterationEnd(unit, 0);  // writes --gtest_output's file with the results so far
    std::fprintf(stderr, "lockaudit: wrote the test report (--gtest_output) with test %s failed\n",
                 name.c_str());
  }
  std::fflush(nullptr);
}

bool ListingTests() {
#ifdef GTEST_FLAG_GET
  return GTEST_FLAG_GET(list_tests);
#else
  return ::testing::GTEST_FLAG(list_tests);  // gtest before 1.12
#endif
}

void OnFinding(const Finding& f) {
  State& s = S();
  std::string prefix;
  const ::testing::TestInfo* deadlocked_test = nullptr;
  {
    Guard g(s.mu);
    for (auto it = s.audits.rbegin(); it != s.audits.rend(); ++it) {
      if ((*it)->Captures(f.kind)) {
        AuditAccess::Capture(**it, f);
        return;
      }
    }
    for (const ScopedAllowFindings* allow : s.allows) {
      if (allow->Allows(f.kind)) return;
    }
    if (!s.listening) return;
    bool on_runner = std::this_thread::get_id() == s.runner;
    if (s.test != nullptr && f.kind == "deadlock") {
      deadlocked_test = s.test;
    } else if (s.test != nullptr && !on_runner) {
      s.deferred.push_back({f, Tid()});
      return;
    }
    if (s.test == nullptr) {
      if (!on_runner || !s.in_iteration) {
        s.outside.push_back({f, Tid()});
        return;
      }
      // Between tests on the runner thread: a suite's or an environment's set-up or tear-down.
      // gtest charges the failure to the running suite, else to the run.
      prefix = "lockaudit: finding outside any test (in a set-up or tear-down):\n";
    }
  }
  if (deadlocked_test != nullptr) {
    ReportDeadlockNow(f, deadlocked_test);
    return;
  }
  ReportFailure(f, prefix);
}

void EnsureHub() {
  static const int handle = ::lockaudit::on_finding(OnFinding);
  (void)handle;
}

void ReportOutside(const std::vector<LateFinding>& late) {
  for (const LateFinding& l : late) {
    ReportFailure(l.finding, l.tid == 0 ? std::string("lockaudit: finding outside any test "
                                                      "(before the listener was installed):\n")
                                        : "lockaudit: finding outside any test (thread " +
                                              std::to_string(l.tid) + "):\n");
  }
  if (!late.empty()) {
    std::printf("lockaudit: %zu finding(s) raised outside any test; the test program fails\n",
                late.size());
    std::fflush(stdout);
  }
}

// Findings raised after the last iteration ended (or in a program that never ran the tests).
void AtExit() {
  std::vector<LateFinding> late;
  {
    State& s = S();
    Guard g(s.mu);
    late.swap(s.outside);
  }
  if (late.empty() || ListingTests()) return;
  std::fflush(nullptr);
  std::fprintf(stderr, "lockaudit: %zu finding(s) raised outside any test, after the tests ran:\n",
               late.size());
  for (const LateFinding& l : late) {
    std::fprintf(stderr, "%s\n", TrimmedText(l.finding).c_str());
  }
  std::fprintf(stderr, "lockaudit: failing the test program: exit status 1\n");
  std::fflush(nullptr);
  _exit(1);
}

// The gtest listener: keeps State's view of the run current and reports the findings that had
// to wait (other threads' at the end of their test, outside ones at the end of the run).
// Thread-safety: gtest calls it on the runner thread. Cost: one spin-lock section per event.
class Listener : public ::testing::EmptyTestEventListener {
 public:
  void OnTestProgramStart(const ::testing::UnitTest&) override {
    State& s = S();
    Guard g(s.mu);
    s.runner = std::this_thread::get_id();
  }
  void OnTestIterationStart(const ::testing::UnitTest&, int) override {
    State& s = S();
    Guard g(s.mu);
    s.in_iteration = true;
  }
  void OnTestStart(const ::testing::TestInfo& info) override {
    State& s = S();
    Guard g(s.mu);
    s.test = &info;
  }
  // Called before gtest's printers learn the test's result (end events go to listeners in
  // reverse order, and this one is appended last).
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::vector<LateFinding> late;
    {
      State& s = S();
      Guard g(s.mu);
      s.test = nullptr;
      late.swap(s.deferred);
    }
    for (const LateFinding& l : late) {
      ReportFailure(l.finding, "lockaudit: raised on another thread (tid " + std::to_string(l.tid) +
                                   ") while this test ran:\n");
    }
  }
  // Before gtest decides whether the run passed: findings outside every test so far fail it.
  void OnTestIterationEnd(const ::testing::UnitTest&, int) override {
    std::vector<LateFinding> late;
    {
      State& s = S();
      Guard g(s.mu);
      s.in_iteration = false;
      late.swap(s.outside);
    }
    ReportOutside(late);
  }
};

}  // namespace

const std::vector<std::string>& FindingKinds() { return Kinds(); }

void InstallListener() {
  EnsureHub();
  State& s = S();
  {
    Guard g(s.mu);
    if (s.listening) return;
    s.listening = true;
  }
  // Findings raised before now (static initialisers, main() before this call) were outside any
  // test. One raised while this runs reaches the hub too: keep it once.
  std::vector<Finding> before = ::lockaudit::findings();
  {
    Guard g(s.mu);
    std::vector<LateFinding> merged;
    for (Finding& f : before) {
      bool seen = std::any_of(s.outside.begin(), s.outside.end(),
                              [&](const LateFinding& l) { return l.finding.json == f.json; });
      if (!seen) merged.push_back({std::move(f), 0});
    }
    merged.insert(merged.end(), std::make_move_iterator(s.outside.begin()),
                  std::make_move_iterator(s.outside.end()));
    s.outside = std::move(merged);
  }
  ::testing::UnitTest::GetInstance()->listeners().Append(new Listener);
  std::atexit(AtExit);
}

// ---- Scopes --------------------------------------------------------------------------------

ScopedAllowFindings::ScopedAllowFindings() {
  EnsureHub();
  State& s = S();
  Guard g(s.mu);
  s.allows.push_back(this);
}

ScopedAllowFindings::ScopedAllowFindings(std::initializer_list<std::string_view> kinds) {
  for (std::string_view k : kinds) {
    if (!internal::IsKnownKind(k)) {
      ADD_FAILURE() << "lockaudit::testing::ScopedAllowFindings: '" << k
                    << "' is not a finding kind; one of: " << KindList();
    }
    kinds_.emplace_back(k);
  }
  EnsureHub();
  State& s = S();
  Guard g(s.mu);
  s.allows.push_back(this);
}

ScopedAllowFindings::~ScopedAllowFindings() {
  State& s = S();
  Guard g(s.mu);
  s.allows.erase(std::remove(s.allows.begin(), s.allows.end(), this), s.allows.end());
}

bool ScopedAllowFindings::Allows(std::string_view kind) const {
  return kinds_.empty() || std::find(kinds_.begin(), kinds_.end(), kind) != kinds_.end();
}

ScopedAudit::ScopedAudit() {
  EnsureHub();
  State& s = S();
  Guard g(s.mu);
  s.audits.push_back(this);
}

ScopedAudit::ScopedAudit(std::initializer_list<std::string_view> kinds) {
  for (std::string_view k : kinds) {
    if (!internal::IsKnownKind(k)) {
      ADD_FAILURE() << "lockaudit::testing::ScopedAudit: '" << k
                    << "' is not a finding kind; one of: " << KindList();
    }
    kinds_.emplace_back(k);
  }
  EnsureHub();
  State& s = S();
  Guard g(s.mu);
  s.audits.push_back(this);
}

ScopedAudit::~ScopedAudit() {
  std::vector<Finding> unchecked;
  {
    State& s = S();
    Guard g(s.mu);
    s.audits.erase(std::remove(s.audits.begin(), s.audits.end(), this), s.audits.end());
    unchecked = AuditAccess::TakeUninspected(*this);
  }
  if (unchecked.empty()) return;
  std::ostringstream msg;
  msg << "lockaudit::testing::ScopedAudit captured " << unchecked.size()
      << " finding(s) that were never inspected (call findings() and check them):\n";
  for (const Finding& f : unchecked) msg << TrimmedText(f) << "\n";
  ADD_FAILURE() << msg.str();
}

std::vector<Finding> ScopedAudit::findings() const {
  State& s = S();
  Guard g(s.mu);
  inspected_ = true;
  return captured_;
}

bool ScopedAudit::Captures(std::string_view kind) const {
  return kinds_.empty() || std::find(kinds_.begin(), kinds_.end(), kind) != kinds_.end();
}

// ---- Matchers ------------------------------------------------------------------------------

namespace {

std::string Names(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", '" : "'") + names[i] + "'";
  return out + "}";
}

class CycleMatcher : public ::testing::MatcherInterface<const Finding&> {
 public:
  explicit CycleMatcher(std::vector<std::string> names) : names_(std::move(names)) {
    std::sort(names_.begin(), names_.end());
  }
  bool MatchAndExplain(const Finding& f, ::testing::MatchResultListener* listener) const override {
    if (f.kind != "lock_order_cycle") {
      *listener << "which is a " << f.kind << " finding";
      return false;
    }
    std::vector<std::string> got;
    for (const LockInfo& l : f.locks) got.push_back(l.name);
    std::sort(got.begin(), got.end());
    if (got != names_) {
      *listener << "which is a cycle over " << Names(got);
      return false;
    }
    return true;
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "is a lock_order_cycle over exactly the locks " << Names(names_);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not a lock_order_cycle over exactly the locks " << Names(names_);
  }

 private:
  std::vector<std::string> names_;  // sorted
};

class KindMatcher : public ::testing::MatcherInterface<const Finding&> {
 public:
  explicit KindMatcher(std::string kind) : kind_(std::move(kind)) {}
  bool MatchAndExplain(const Finding& f, ::testing::MatchResultListener* listener) const override {
    if (f.kind == kind_) return true;
    *listener << "which is a " << f.kind << " finding";
    return false;
  }
  void DescribeTo(std::ostream* os) const override { *os << "is a " << kind_ << " finding"; }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not a " << kind_ << " finding";
  }

 private:
  std::string kind_;
};

}  // namespace

::testing::Matcher<const Finding&> IsCycle(std::vector<std::string> lock_names) {
  return ::testing::MakeMatcher(new CycleMatcher(std::move(lock_names)));
}

::testing::Matcher<const Finding&> IsFinding(std::string kind) {
  return ::testing::MakeMatcher(new KindMatcher(std::move(kind)));
}

// ---- Macro checks --------------------------------------------------------------------------

namespace internal {

bool IsKnownKind(std::string_view kind) {
  const auto& kinds = Kinds();
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

::testing::AssertionResult NoFindingsResult(const ScopedAudit& audit, const char* text) {
  std::vector<Finding> found = audit.findings();
  if (found.empty()) return ::testing::AssertionSuccess();
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  r << "Expected: " << text << "\n  raises no lock findings.\n  Actual: it raised "
    << found.size() << ":\n";
  for (const Finding& f : found) r << TrimmedText(f) << "\n";
  return r;
}

::testing::AssertionResult HasFindingResult(std::string_view kind, const ScopedAudit* audit,
                                            const char* text) {
  if (audit == nullptr) {
    return ::testing::AssertionFailure()
           << "'" << kind << "' is not a lockaudit finding kind; one of: " << KindList();
  }
  if (!audit->findings().empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "Expected: " << text
                                       << "\n  raises a lock finding of kind '" << kind
                                       << "'.\n  Actual: it raised none of that kind.";
}

::testing::AssertionResult HeldResult(const void* lock, const char* expr, bool want_held) {
  std::string name = "(never locked)";
  for (const LockInfo& l : ::lockaudit::graph().nodes) {
    if (l.addr == reinterpret_cast<uintptr_t>(lock)) name = "'" + l.name + "'";
  }
  return ::testing::AssertionFailure()
         << "Expected: " << expr << " is " << (want_held ? "held" : "not held")
         << " by this thread.\n  Actual: it is " << (want_held ? "not held" : "held")
         << " (lock " << name << " at " << lock << ")";
}

}  // namespace internal
}  // namespace testing
}  // namespace lockaudit
