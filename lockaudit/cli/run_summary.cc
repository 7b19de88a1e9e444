// lockaudit/cli/run_summary: findings by kind, the locks of each finding, the engine's counters
// and where the full report is, in at most a screenful of "lockaudit: " lines.
#include "run_summary.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "profile.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

// Findings listed one per line; the rest are counted.
constexpr size_t kMaxFindingsListed = 10;

void PrintHeadline(const RunContext& context, std::ostream& out) {
  out << "lockaudit: ---- " << context.program << " (pid " << context.pid << ") ";
  if (context.exit.signal != 0) {
    out << "was killed by signal " << context.exit.signal << " ("
        << strsignal(context.exit.signal) << ")";
  } else {
    out << "exited with status " << context.exit.status;
  }
  out << " ----\n";
}

void PrintFindings(const Report& report, std::ostream& out) {
  if (report.findings.empty()) {
    out << "lockaudit: no findings\n";
    return;
  }
  std::map<std::string, int64_t> by_kind;
  for (const Finding& finding : report.findings) ++by_kind[finding.kind];
  std::vector<std::string> kinds;
  kinds.reserve(by_kind.size());
  for (const auto& [kind, count] : by_kind) kinds.push_back(std::to_string(count) + " " + kind);
  out << "lockaudit: " << CountOf(static_cast<int64_t>(report.findings.size()), "finding") << ": "
      << Join(kinds) << "\n";
  for (size_t i = 0; i < report.findings.size() && i < kMaxFindingsListed; ++i) {
    const Finding& finding = report.findings[i];
    const std::string locks = Join(FindingLockNames(finding));
    out << "lockaudit:   " << finding.kind << ": " << (locks.empty() ? finding.message : locks)
        << (finding.ordered ? " (ordered: cannot deadlock as observed)" : "") << "\n";
  }
  if (report.findings.size() > kMaxFindingsListed) {
    out << "lockaudit:   ... and " << report.findings.size() - kMaxFindingsListed << " more\n";
  }
}

// The counters of all summary lines (one per process that exited normally), added up.
void PrintCounters(const Report& report, const RunContext& context, std::ostream& out) {
  if (report.summaries.empty()) {
    out << "lockaudit: no summary line: ";
    if (!context.audited) {
      out << "the shim was not loaded, nothing was audited";
    } else if (context.exit.signal != 0) {
      out << "the program was killed before its exit handlers ran; the findings above are those "
             "written as they were found";
    } else {
      out << "the program ended without running its exit handlers (it called _exit(), or an "
             "exec replaced it); the findings above are those written as they were found";
    }
    out << "\n";
    return;
  }
  Summary total;
  for (const Summary& summary : report.summaries) {
    total.suppressed += summary.suppressed;
    total.locks += summary.locks;
    total.edges += summary.edges;
    total.acquisitions += summary.acquisitions;
    total.contentions += summary.contentions;
  }
  out << "lockaudit: " << CountOf(total.locks, "lock") << ", " << CountOf(total.edges, "edge")
      << ", " << CountOf(total.acquisitions, "acquisition") << ", "
      << CountOf(total.contentions, "contention") << ", " << total.suppressed << " suppressed";
  if (report.summaries.size() > 1) out << " (" << report.summaries.size() << " processes)";
  out << "\n";
  PrintSuppressionsUsed(report.summaries, out);
}

// With more than one process in the report: each process that had findings, by pid.
void PrintProcesses(const Report& report, std::ostream& out) {
  std::map<int64_t, int64_t> listed;  // pid -> findings written in full
  for (const Finding& finding : report.findings) {
    if (finding.pid) ++listed[*finding.pid];
  }
  std::map<int64_t, const Summary*> summary_of;
  for (const Summary& summary : report.summaries) {
    if (summary.pid) summary_of[*summary.pid] = &summary;
  }
  std::map<int64_t, bool> pids;
  for (const auto& [pid, n] : listed) pids[pid] = true;
  for (const auto& [pid, summary] : summary_of) pids[pid] = true;
  if (pids.size() < 2) return;
  for (const auto& [pid, unused] : pids) {
    auto s = summary_of.find(pid);
    const int64_t n = std::max(listed[pid], s != summary_of.end() ? s->second->findings : 0);
    if (n == 0) continue;
    out << "lockaudit:   process " << pid;
    if (s != summary_of.end() && !s->second->program.empty()) out << " (" << s->second->program << ")";
    out << ": " << CountOf(n, "finding");
    if (s == summary_of.end()) out << " (no summary line: it did not exit normally)";
    out << "\n";
  }
}

// Locks named by module and offset ("mariadbd+0x1834540"): the binary is stripped. Says where
// names come from (the README's "Names in stripped programs").
void PrintNamesHint(const Report& report, std::ostream& out) {
  for (const Finding& finding : report.findings) {
    for (const LockInfo& lock : finding.locks) {
      const size_t plus = lock.name.rfind("+0x");
      if (plus == std::string::npos || plus == 0 || lock.name.find(' ') != std::string::npos) continue;
      out << "lockaudit: locks named <module>+0x<offset>: the program has no symbols for them; "
             "install its debug symbols (Debian: the -dbgsym package, into /usr/lib/debug/.build-id) "
             "or build with -g and do not strip; 'addr2line -e <module> <offset>' names one now\n";
      return;
    }
  }
}

void PrintReportLocation(const RunContext& context, std::ostream& out) {
  if (context.report_kept) {
    out << "lockaudit: full report: " << context.report_path
        << " (as text: lockaudit report " << context.report_path << ")\n";
  } else if (context.log == "off") {
    out << "lockaudit: no full report kept (--log off and no --report FILE)\n";
  } else if (context.log && context.log != "stderr") {
    out << "lockaudit: full report: " << *context.log << " (use --report FILE for JSON Lines)\n";
  } else {
    out << "lockaudit: full report: above, on stderr (use --report FILE to keep JSON Lines)\n";
  }
}

}  // namespace

int64_t CountFindings(const Report& report, bool count_ordered) {
  int64_t counted = 0;
  for (const Summary& summary : report.summaries) {
    counted += summary.findings - (count_ordered ? 0 : summary.ordered);
  }
  int64_t lines = 0;
  for (const Finding& finding : report.findings) lines += count_ordered || !finding.ordered;
  return std::max(counted, lines);
}

int RunExitStatus(const RunContext& context, int64_t findings) {
  return context.exitcode && findings > 0 ? *context.exitcode : context.exit.status;
}

void PrintRunSummary(const Report* report, const RunContext& context, std::ostream& out) {
  PrintHeadline(context, out);
  if (context.statically_linked || context.disabled) {
    out << "lockaudit: not audited: "
        << (context.statically_linked
                ? "the program is statically linked, and the shim attaches (by LD_PRELOAD) only to "
                  "dynamically linked programs; link it dynamically, or link liblockaudit into it"
                : "--disable (LOCKAUDIT_DISABLE=1) passes every lock call straight through")
        << "\n";
  } else if (report == nullptr) {
    out << "lockaudit: no report to summarize at " << context.report_path << "\n";
  } else {
    PrintFindings(*report, out);
    PrintCounters(*report, context, out);
    if (!report->contentions.empty()) PrintTopPaths(report->contentions, 5, out);
    if (!report->holder_contentions.empty()) PrintTopHolders(report->holder_contentions, 3, out);
    PrintProcesses(*report, out);
    PrintNamesHint(*report, out);
    if (context.audited || context.report_kept) PrintReportLocation(context, out);
  }
  const int64_t findings = report == nullptr ? 0 : CountFindings(*report, context.count_ordered);
  const int status = RunExitStatus(context, findings);
  if (status != context.exit.status) {
    out << "lockaudit: exit status " << status << " (--exitcode; the report holds findings)\n";
  }
}

}  // namespace lockaudit::cli
