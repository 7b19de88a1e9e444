// lockaudit/cli/text_format: text layout of findings, frames, threads and summaries.
#include "text_format.h"

#include <map>
#include <utility>

#include "config_file.h"

namespace lockaudit::cli {
namespace {

void RenderFrames(const Stack& stack, std::ostream& out) {
  if (stack.empty()) out << "    (no stack)\n";
  for (size_t i = 0; i < stack.size(); ++i) {
    out << "    #" << i << " " << FormatFrame(stack[i]) << "\n";
  }
}

void RenderEdge(const Finding& finding, const FindingEdge& edge, size_t number, std::ostream& out) {
  const std::string from = LockDisplayName(FindLock(finding, edge.from));
  const std::string to = LockDisplayName(FindLock(finding, edge.to));
  out << "  edge " << number << ": " << from << " -> " << to << " (thread "
      << FormatThread(edge.thread) << ")\n";
  out << "    " << from << " was acquired at:\n";
  RenderFrames(edge.held_stack, out);
  if (edge.held_stack_partial) out << "    " << core::kPartialHeldStackNote << "\n";
  out << "    " << to << " acquired at:\n";
  RenderFrames(edge.stack, out);
}

std::string LockWithLevel(const LockInfo& lock) {
  std::string text = LockDisplayName(lock);
  if (lock.level) text += " (level " + std::to_string(*lock.level) + ")";
  return text;
}

// The lines between the headline and the edges: where, when, which locks and threads.
void RenderContext(const Finding& finding, std::ostream& out) {
  if (finding.pid || !finding.time.empty()) {
    out << "  ";
    if (finding.pid) out << "pid " << *finding.pid << (finding.time.empty() ? "" : ", ");
    out << finding.time << "\n";
  }
  if (finding.single_thread) {
    out << "  every edge was seen on one thread; another thread running the same code can "
           "deadlock with it\n";
  }
  if (finding.ordered) {
    out << "  ordered: " << (finding.ordered_reason.empty() ? "" : finding.ordered_reason + ": ")
        << "thread creation and join keep these edges apart, so this cycle cannot deadlock as "
           "observed\n";
  }
  std::vector<std::string> locks;
  for (const LockInfo& lock : finding.locks) locks.push_back(LockWithLevel(lock));
  if (!locks.empty()) out << "  locks: " << Join(locks) << "\n";
  std::vector<std::string> threads;
  for (const ThreadInfo& thread : finding.threads) threads.push_back(FormatThread(thread));
  if (!threads.empty()) out << "  threads: " << Join(threads) << "\n";
}

}  // namespace

std::string LockDisplayName(const LockInfo& lock) {
  if (!lock.name.empty()) return lock.name;
  if (!lock.addr.empty()) return lock.addr;
  if (lock.id) return "lock #" + std::to_string(*lock.id);
  return "unknown lock";
}

std::vector<std::string> FindingLockNames(const Finding& finding) {
  std::vector<std::string> names;
  for (const LockInfo& lock : finding.locks) names.push_back(LockDisplayName(lock));
  return names;
}

std::string FormatFrame(const Frame& frame) {
  std::string text = !frame.function.empty() ? frame.function : !frame.pc.empty() ? frame.pc : "??";
  if (!frame.file.empty()) {
    text += " " + frame.file;
    if (frame.line) text += ":" + std::to_string(*frame.line);
  }
  if (!frame.module.empty()) text += " (" + frame.module + ")";
  return text;
}

std::string FormatThread(const ThreadInfo& thread) {
  std::string text = thread.name;
  if (thread.tid) text += (text.empty() ? "tid " : " tid ") + std::to_string(*thread.tid);
  return text.empty() ? "unknown" : text;
}

std::string CountOf(int64_t count, std::string_view noun) {
  return std::to_string(count) + " " + std::string(noun) + (count == 1 ? "" : "s");
}

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string text;
  for (const std::string& item : items) {
    if (!text.empty()) text += separator;
    text += item;
  }
  return text;
}

void RenderFinding(const Finding& finding, std::ostream& out) {
  out << "lockaudit: " << (finding.kind.empty() ? "unknown" : finding.kind);
  if (!finding.message.empty()) out << ": " << finding.message;
  out << "\n";
  RenderContext(finding, out);
  for (size_t i = 0; i < finding.edges.size(); ++i) {
    RenderEdge(finding, finding.edges[i], i + 1, out);
  }
  if (!finding.stack.empty()) {
    out << "  stack:\n";
    RenderFrames(finding.stack, out);
  }
  if (!finding.held_stack.empty()) {
    out << "  " << HeldStackHeading(finding) << " at:\n";
    RenderFrames(finding.held_stack, out);
    if (finding.held_stack_partial) out << "    (only where it was taken: that function had returned)\n";
  }
  if (!finding.suppression.empty()) {
    out << "  to suppress, add to LOCKAUDIT_SUPPRESSIONS: " << finding.suppression << "\n";
  }
}

// The name of the lock at `addr` in a confirm run (its deadlock lists the cycle's locks), or the
// address itself.
std::string LockAt(const ConfirmRecord& record, const std::string& addr) {
  if (record.deadlock) {
    for (const LockInfo& lock : record.deadlock->locks) {
      if (lock.addr == addr) return "'" + LockDisplayName(lock) + "'";
    }
  }
  return addr;
}

void RenderConfirm(const ConfirmRecord& record, std::ostream& out) {
  if (record.result == "confirmed") {
    out << "lockaudit: confirm: CONFIRMED";
    if (record.run) out << " in run " << *record.run;
    out << ": " << Join(record.locks, " -> ") << " deadlocks\n";
    for (const Pause& pause : record.pauses) {
      std::vector<std::string> edges;
      for (int64_t edge : pause.edges) edges.push_back(std::to_string(edge));
      out << "  paused: thread " << FormatThread(pause.thread) << " at the site of edge"
          << (edges.size() == 1 ? " " : "s ") << Join(edges) << " for " << pause.waited_ms
          << " ms (holding the edge's first lock, about to take " << LockAt(record, pause.lock)
          << "; "
          << (pause.outcome == "lined_up" ? "released when the threads lined up" : "timed out")
          << ")\n";
    }
    if (record.deadlock) {
      out << "  the actual deadlock of that run:\n";
      RenderFinding(*record.deadlock, out);
    }
    return;
  }
  out << "lockaudit: confirm: not reproduced";
  if (record.runs > 0) out << " in " << CountOf(record.runs, "run");
  out << ": " << Join(record.locks, " -> ");
  if (!record.reason.empty()) out << ": " << record.reason;
  out << "\n";
}

void PrintSuppressionsUsed(const std::vector<Summary>& summaries, std::ostream& out) {
  std::map<std::pair<std::string, std::string>, int64_t> used;  // (rule, where) -> matched
  for (const Summary& summary : summaries) {
    for (const SuppressionUse& use : summary.suppressions) used[{use.rule, use.where}] += use.matched;
  }
  for (const auto& [rule, matched] : used) {
    out << "lockaudit: suppression '" << rule.first << "'";
    if (!rule.second.empty()) out << " (" << rule.second << ")";
    out << " matched " << CountOf(matched, "finding") << "\n";
  }
}

void RenderSummary(const Summary& summary, std::ostream& out) {
  out << "lockaudit: summary";
  if (summary.pid) out << " (pid " << *summary.pid << ")";
  out << ": " << CountOf(summary.findings, "finding") << ", " << summary.suppressed
      << " suppressed, " << CountOf(summary.locks, "lock") << ", " << CountOf(summary.edges, "edge")
      << ", " << CountOf(summary.acquisitions, "acquisition") << ", "
      << CountOf(summary.contentions, "contention") << "\n";
  PrintSuppressionsUsed({summary}, out);
}

}  // namespace lockaudit::cli
