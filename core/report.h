// core/report: the findings bus and its sinks (text log, JSON Lines file, callbacks), the
// suppressions file, and the exit summary.
//
// Thread-safety: Publish*() may be called from any thread, outside the tracker's locks, inside
// an EngineScope; sinks are serialised by the report mutex so lines never interleave.
// Cost: symbolization and formatting on every publish: never on the hot path.
#ifndef LOCKAUDIT_CORE_REPORT_H_
#define LOCKAUDIT_CORE_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "finding_kind.h"
#include "options.h"
#include "registry.h"
#include "stacks.h"

namespace lockaudit::core {

const char* KindName(FindingKind kind);

struct ReportLock {
  NodeId id = 0;
  uintptr_t addr = 0;
  std::string name;
  int level = kNoLevel;
};
struct ReportThread {
  uint32_t tid = 0;
  std::string name;
};
struct ReportEdge {
  NodeId from = 0, to = 0;
  ReportThread thread;
  StackId stack = 0;       // where `to` was acquired
  StackId held_stack = 0;  // where `from` was acquired
  // `to` was taken while holding a lock since destroyed, itself taken while holding `from`
  // (stack: where `to` was taken under that lock; held_stack: where `from` was taken).
  bool implied = false;
};
// A channel a finding is about (core/channel.h): its state when the finding was made.
struct ReportChannel {
  std::string name;
  uint64_t capacity = 0;  // 0: unbounded
  int64_t depth = 0;      // items in it
  bool closed = false;
  uint32_t senders_waiting = 0, receivers_waiting = 0;
  uint32_t senders = 0, receivers = 0;  // threads that ever sent / received (kMaxPeers: that many or more)
};

struct Finding {
  FindingKind kind = FindingKind::kLockOrderCycle;
  std::string message;
  bool single_thread = false;
  std::vector<ReportLock> locks;
  std::vector<ReportEdge> edges;
  std::vector<ReportThread> threads;
  StackId stack = 0;
  // blocking_under_lock: where locks[0] was acquired; lock_churn: where it was taken before the
  // release; lock_false_sharing: where locks[1] was first taken. 0 when none. `held_label`: the
  // text report's heading for it (empty: "'<locks[0]>' acquired").
  StackId held_stack = 0;
  std::string held_label;
  std::vector<ReportChannel> channels;  // send_on_closed, channel_stall, channel_leak, deadlock
  // lock_order_cycle: why thread creation and join keep two of its edges apart (the cycle
  // cannot close as observed, core/lineage.h); empty when nothing orders them.
  std::string ordered_reason;
  int64_t time_ns = 0;  // CLOCK_REALTIME
  int pid = 0;
  // Set by Publish():
  bool suppressed = false;
  std::string text;  // the text report, as written to the log
  std::string json;  // the JSON line, without newline
  std::string suppression;  // a suppressions-file line that matches this finding exactly
};

void InitReport(const Options& opts);
// Symbolizes, applies suppressions, writes sinks, runs callbacks, records the finding.
void Publish(Finding f);
// Writes an `edge` line to the JSON Lines report (for `lockaudit graph` / `merge`).
// `from_modes`/`to_modes`: bit 0 exclusive, bit 1 shared (how `from` was held, how `to` was
// requested, over every observation); `gates`: the locks held exclusively around every one.
void PublishEdge(const ReportLock& from, const ReportLock& to, const ReportThread& thread,
                 StackId stack, StackId held_stack, uint8_t from_modes, uint8_t to_modes,
                 const std::vector<ReportLock>& gates);

uint64_t FindingCount();     // unsuppressed
// Writes one JSON object (no newline) as a line of the JSON Lines report (core/confirm's
// "pause" lines); nothing when there is no report or the summary was written.
void PublishLine(const std::string& json_line);
// Whether PublishLine writes anywhere (a JSON report is open and its summary not yet written):
// lines costly to build at exit are skipped without one.
bool JsonReportOn();
uint64_t OrderedCount();     // unsuppressed lock_order_cycle findings marked ordered
uint64_t SuppressedCount();
uint64_t FindingCount(FindingKind kind);
std::vector<Finding> AllFindings();

using FindingCallback = void (*)(const Finding& f, void* arg);
int AddFindingCallback(FindingCallback cb, void* arg);  // returns a handle
void RemoveFindingCallback(int handle);

struct SummaryCounts {
  uint64_t locks;  // distinct locks seen during the run
  uint64_t edges;  // distinct lock-order edges learned during the run
  uint64_t edge_lines_dropped;  // direct edges whose `edge` line was not written (cap per naming pair)
  uint64_t acquisitions, contentions;
  uint64_t channels, channel_items;  // channels created, items sent through them (core/channel.h)
};
void WriteSummary(const SummaryCounts& c);

// Loads a suppressions file; each malformed line gives one warning. Returns the rule count.
size_t LoadSuppressions(const char* path);
class EngineMutex;
EngineMutex& ReportMutex();  // taken across fork (tracker.cc, ForkPrepare)
void ReportChildAfterFork();

// JSON helpers shared with the query API and core/contention_profile.
std::string JsonEscape(const std::string& s);
std::string JsonLockOf(const ReportLock& lock);                            // {id, name, addr, level}
std::string JsonFramesOf(const std::vector<SymbolizedFrame>& frames);      // [{pc, function, ...}]

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_REPORT_H_
