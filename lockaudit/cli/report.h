// lockaudit/cli/report: the data model of a lockaudit JSON Lines report (DESIGN.md §5) as the CLI
// reads it. Plain values with no behaviour beyond lookups; a field the engine left out (or wrote as
// null) is an empty string, an empty vector or an empty std::optional.
#ifndef LOCKAUDIT_CLI_REPORT_H_
#define LOCKAUDIT_CLI_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lockaudit::cli {

// One symbolized stack frame. `file` is empty and `line` unset when there is no debug info.
struct Frame {
  std::string pc{};
  std::string function{};
  std::string file{};
  std::optional<int64_t> line{};
  std::string module{};
  std::string offset{};  // "0x..": the pc as an address in the module's ELF file (ASLR-proof)
};

// Innermost frame first.
using Stack = std::vector<Frame>;

struct LockInfo {
  std::optional<int64_t> id{};  // unique within one process (pid)
  std::string name{};            // may be empty
  std::string addr{};            // "0x..."
  std::optional<int64_t> level{};
};

struct ThreadInfo {
  std::optional<int64_t> tid{};
  std::string name{};
};

// One edge of a finding: `to` was acquired while `from` was held. The ids refer to Finding::locks.
struct FindingEdge {
  std::optional<int64_t> from{};
  std::optional<int64_t> to{};
  ThreadInfo thread{};
  Stack stack{};        // where `to` was acquired
  Stack held_stack{};   // where `from` had been acquired
  bool held_stack_partial = false;  // held_stack is only that site (its function had returned)
};

// A "finding" line.
struct Finding {
  std::string kind{};
  std::string message{};
  std::optional<int64_t> pid{};
  std::string time{};
  bool single_thread = false;
  std::vector<LockInfo> locks{};
  std::vector<FindingEdge> edges{};
  std::vector<ThreadInfo> threads{};
  Stack stack{};
  // blocking_under_lock: where locks[0] was acquired; lock_churn: where it was first taken.
  Stack held_stack{};
  bool held_stack_partial = false;
  std::string suppression{};  // the suppressions-file line that matches it (docs/suppressions.md)
  // lock_order_cycle: thread creation and join keep two of its edges apart (ordered_reason
  // says how), so it cannot deadlock as observed.
  bool ordered = false;
  std::string ordered_reason{};
};

// Lock modes of an edge line, as bits: how `from` was held / how `to` was requested.
inline constexpr uint8_t kModeExclusive = 1, kModeShared = 2;
// With kModeShared in to_modes: the read request queues behind waiting writers (a
// writer-preferring rwlock), so it is not exempt from a cycle as a read-read link.
inline constexpr uint8_t kModeWriterPreferring = 4;

// An "edge" line: the first observation of a lock-order edge, both locks spelled out; written
// again when its modes or gates change (the last line of a pair says it all).
struct EdgeRecord {
  std::optional<int64_t> pid{};
  LockInfo from{};
  LockInfo to{};
  // Bits kModeExclusive/kModeShared over every observation. A report without the fields (older
  // lockaudit) reads as exclusive: such an edge is never left out of a cycle.
  uint8_t from_modes = kModeExclusive;
  uint8_t to_modes = kModeExclusive;
  std::vector<LockInfo> gates{};  // locks held exclusively around every observation
  ThreadInfo thread{};
  Stack stack{};        // where `to` was acquired
  Stack held_stack{};   // where `from` had been acquired
  bool held_stack_partial = false;  // held_stack is only that site (its function had returned)
};

// A "summary" line, written at exit. Absent counters read as 0.
// A suppression rule that matched, from a summary line.
struct SuppressionUse {
  std::string rule{};   // as written in the file
  std::string where{};  // "<file>:<line>"
  int64_t matched = 0;
};

struct Summary {
  std::optional<int64_t> pid{};
  std::string program{};  // argv[0] of the process, when the engine wrote it
  int64_t findings = 0;
  int64_t ordered = 0;  // of findings: lock-order cycles marked ordered
  int64_t suppressed = 0;
  int64_t locks = 0;
  int64_t edges = 0;
  int64_t acquisitions = 0;
  int64_t contentions = 0;
  std::vector<SuppressionUse> suppressions{};
};

// A "pause" line of a confirm run (docs/confirm.md): a thread paused at an edge of the cycle.
struct Pause {
  std::optional<int64_t> pid{};
  std::vector<int64_t> edges{};  // the edges whose sites it matched (1-based, cycle order)
  ThreadInfo thread{};
  std::string lock{};  // the address it was about to lock
  int64_t waited_ms = 0;
  std::string outcome{};  // "lined_up" or "timed_out"
};

// A "confirm" line, appended to a report by `lockaudit confirm`: what became of one cycle.
struct ConfirmRecord {
  std::optional<int64_t> pid{};  // of the cycle's finding
  std::string cycle{};           // the finding's message
  std::vector<std::string> locks{};
  std::string result{};  // "confirmed" or "not_reproduced"
  int64_t runs = 0;      // confirm runs made
  std::optional<int64_t> run{};  // the run that deadlocked (confirmed)
  std::string reason{};          // not_reproduced: why, when known
  std::vector<Pause> pauses{};   // confirmed: where the threads paused in that run
  std::optional<Finding> deadlock{};  // confirmed: the actual deadlock of that run
};

// A "contention" line (core/contention_profile.h): the sampled waits of one call path on one
// lock. `contentions` and `delay_ns` are already scaled by `rate` (1 in `rate` waits sampled).
struct ContentionRecord {
  std::optional<int64_t> pid{};
  LockInfo lock{};
  Stack stack{};  // the waiter's stack, innermost first; of a holder record: the holder's site
  int64_t contentions = 0;
  int64_t delay_ns = 0;
  int64_t samples = 0;
  int64_t rate = 1;
  int64_t p50_ns = 0, p99_ns = 0, max_ns = 0;
};

// Quantiles of one duration histogram of a `lock_stats` / `cond_stats` line (interpolated
// inside the metrics' buckets, docs/metrics.md).
struct DurationStats {
  int64_t count = 0, sum_ns = 0, p50_ns = 0, p90_ns = 0, p99_ns = 0;
};

// A "lock_stats" line: one lock (named as in the metrics) at exit.
struct LockStatsRecord {
  std::optional<int64_t> pid{};
  std::string lock{};
  int64_t acquisitions = 0, contentions = 0;
  DurationStats wait{};  // contended acquisitions
  DurationStats hold{};  // 1 in hold_sample_period holds
  int64_t hold_sample_period = 0;
};

// A "cond_stats" line: one condition variable's wake latency at exit.
struct CondStatsRecord {
  std::optional<int64_t> pid{};
  std::string cond{};
  DurationStats wake{};
  int64_t budget_violations = 0;
};

// Everything the CLI understood in one report file, in file order. A file may hold the lines of
// several processes (every record carries its pid).
struct Report {
  std::string path{};
  std::vector<Finding> findings{};
  std::vector<EdgeRecord> edges{};
  std::vector<Summary> summaries{};
  std::vector<Pause> pauses{};
  std::vector<ConfirmRecord> confirms{};
  std::vector<ContentionRecord> contentions{};
  // "contention_holder" lines: the same waits by the acquisition site of the thread that held
  // the lock when each began (`stack` is that site's frames; empty: no holder was seen).
  std::vector<ContentionRecord> holder_contentions{};
  std::vector<LockStatsRecord> lock_stats{};
  std::vector<CondStatsRecord> cond_stats{};
};

inline constexpr char kLockOrderCycle[] = "lock_order_cycle";
inline constexpr char kDeadlock[] = "deadlock";

// The lock `id` as listed by `finding`; a LockInfo holding only the id when it is not listed.
// The heading of a finding's held_stack ("'m' acquired", ...; docs/report.md).
inline std::string HeldStackHeading(const Finding& f) {
  auto name = [&](size_t i) { return i < f.locks.size() ? "'" + f.locks[i].name + "'" : std::string("'?'"); };
  if (f.kind == "lock_false_sharing") return name(1) + " first taken";
  if (f.kind == "lock_churn") return name(0) + " taken before the release";
  return name(0) + " acquired";
}

inline LockInfo FindLock(const Finding& finding, std::optional<int64_t> id) {
  for (const LockInfo& lock : finding.locks) {
    if (id && lock.id == id) return lock;
  }
  return LockInfo{.id = id};
}

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_REPORT_H_
