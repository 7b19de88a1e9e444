// lockaudit/cli/report_command: `lockaudit report FILE.jsonl` renders a JSON Lines report as the
// text the engine would have printed on stderr.
#include <iostream>
#include <string_view>

#include "commands.h"
#include "report_reader.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

constexpr std::string_view kReportHelp = R"(usage: lockaudit report FILE.jsonl

Renders the findings of a JSON Lines report (LOCKAUDIT_REPORT, or lockaudit run
--report) as text: each finding with its locks and threads and, for every
lock-order edge, the stacks where both locks were acquired; then the summary
counters. A line that cannot be parsed is named (file:line) on stderr and
skipped; line types this version does not know are skipped silently.

exit status (as every lockaudit subcommand): 0 if the report holds no finding;
1 if it holds at least one; 2 if FILE cannot be read, or for a usage error.
)";

void RenderReport(const Report& report, std::ostream& out) {
  for (size_t i = 0; i < report.findings.size(); ++i) {
    if (i > 0) out << "\n";
    RenderFinding(report.findings[i], out);
  }
  if (report.findings.empty()) out << "lockaudit: no findings in " << report.path << "\n";
  if (!report.findings.empty()) out << "\n";
  for (const ConfirmRecord& record : report.confirms) RenderConfirm(record, out);
  if (!report.confirms.empty()) out << "\n";
  for (const Summary& summary : report.summaries) RenderSummary(summary, out);
  if (report.summaries.empty()) {
    out << "lockaudit: no summary line: the program did not reach a normal exit\n";
  }
}

}  // namespace

int ReportMain(const Args& args) {
  if (WantsHelp(args)) {
    std::cout << kReportHelp;
    return 0;
  }
  if (args.size() != 1 || args[0].starts_with("-")) {
    std::cerr << "lockaudit: report: expected one report file; see 'lockaudit report --help'\n";
    return 2;
  }
  std::optional<Report> report = ReadReport(args[0], std::cerr);
  if (!report) return 2;
  RenderReport(*report, std::cout);
  return report->findings.empty() ? 0 : 1;
}

}  // namespace lockaudit::cli
