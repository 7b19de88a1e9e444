// lockaudit/cli/html_report: `lockaudit report --format html`: one self-contained page (inline CSS
// and SVG, no script, no network fetch): the findings with their symbolized stacks (collapsible),
// confirm results, the lock-order graph (Graphviz, cycle edges red and linked to their finding),
// the most contended locks, and a flame graph of the wait time.
#ifndef LOCKAUDIT_CLI_HTML_REPORT_H_
#define LOCKAUDIT_CLI_HTML_REPORT_H_

#include <string>

#include "report.h"

namespace lockaudit::cli {

std::string HtmlReport(const Report& report);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_HTML_REPORT_H_
