// lockaudit/cli/report_command: `lockaudit report FILE.jsonl` renders a JSON Lines report as the
// text the engine would have printed on stderr.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string_view>

#include "commands.h"
#include "report_reader.h"
#include "run_summary.h"
#include "html_report.h"
#include "sarif.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

constexpr std::string_view kReportHelp = R"(usage: lockaudit report FILE.jsonl [--format text|sarif|html] [--source-root DIR] [-o OUT]

Renders the findings of a JSON Lines report (LOCKAUDIT_REPORT, or lockaudit run
--report) as text: each finding with its locks and threads and, for every
lock-order edge, the stacks where both locks were acquired; then the confirm
results and the summary counters. A line that cannot be parsed is named
(file:line) on stderr and skipped; line types this version does not know are
skipped silently.

  --format sarif     SARIF 2.1.0 for code scanning (GitHub and others): a result
                     per finding (rule id = kind), located at its first frame in
                     the program's own source, a code flow per lock-order edge
  --format html      one self-contained page: findings with collapsible stacks,
                     confirm results, the lock-order graph (cycle edges red, linked
                     to their evidence), contended locks and a flame graph of wait
  --source-root DIR  sarif: files under DIR are written relative to it
                     (uriBaseId SRCROOT), as code scanning expects
  -o OUT             write to OUT instead of stdout

exit status (as every lockaudit subcommand): 0 if the report holds no finding
(lock-order cycles marked ordered count only with LOCKAUDIT_COUNT_ORDERED=1, as
for lockaudit run); 1 if it holds at least one; 2 if FILE cannot be read, or for a usage error.
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
  std::string input, format = "text", root, output;
  for (size_t i = 0; i < args.size(); ++i) {
    if (std::optional<std::string> v = OptionValue(args, i, "--format")) {
      format = *v;
    } else if (std::optional<std::string> r = OptionValue(args, i, "--source-root")) {
      root = *r;
    } else if (std::optional<std::string> o = OptionValue(args, i, "-o")) {
      output = *o;
    } else if (args[i].starts_with("-") || !input.empty()) {
      input.clear();
      break;
    } else {
      input = args[i];
    }
  }
  if (input.empty() || (format != "text" && format != "sarif" && format != "html")) {
    std::cerr << "lockaudit: report: expected one report file and --format text, sarif or html; see "
                 "'lockaudit report --help'\n";
    return 2;
  }
  std::optional<Report> report = ReadReport(input, std::cerr);
  if (!report) return 2;
  std::ofstream file;
  if (!output.empty()) {
    file.open(output, std::ios::trunc);
    if (!file) {
      std::cerr << "lockaudit: report: cannot write " << output << "\n";
      return 2;
    }
  }
  std::ostream& out = output.empty() ? std::cout : file;
  if (format == "sarif") {
    std::error_code ignored;
    if (!root.empty()) root = std::filesystem::weakly_canonical(std::filesystem::absolute(root), ignored).string();
    out << SarifReport(*report, root);
  } else if (format == "html") {
    out << HtmlReport(*report);
  } else {
    RenderReport(*report, out);
  }
  out.flush();
  if (!out) {
    std::cerr << "lockaudit: report: cannot write " << (output.empty() ? "stdout" : output) << "\n";
    return 2;
  }
  // As `lockaudit run` counts: ordered cycles only with LOCKAUDIT_COUNT_ORDERED=1.
  const char* count_ordered = std::getenv("LOCKAUDIT_COUNT_ORDERED");
  const bool all = count_ordered != nullptr && std::string_view(count_ordered) == "1";
  return CountFindings(*report, all) > 0 ? 1 : 0;
}

}  // namespace lockaudit::cli
