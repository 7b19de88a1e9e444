// lockaudit/cli/dot_graph: the lock-order graph of one report as Graphviz DOT, for
// `lockaudit graph`.
//
// Nodes are the locks of the report's edge lines, one set per process (pid); they are labelled by
// lock name (the address when the name is empty) and grouped in a cluster per process when the
// report holds several. An edge A -> B means B was acquired while A was held. Edges that belong to
// a lock_order_cycle finding (matched by lock ids within the same pid, or by both lock names) are
// red and bold; a cycle edge that has no edge line of its own is added from the finding.
#ifndef LOCKAUDIT_CLI_DOT_GRAPH_H_
#define LOCKAUDIT_CLI_DOT_GRAPH_H_

#include <string>

#include "report.h"

namespace lockaudit::cli {

// `links`: each cycle edge links to "#finding-<i>", i the index of its first cycle finding in
// report.findings (for the HTML report, lockaudit/cli/html_report.h).
std::string BuildLockOrderDot(const Report& report, bool links = false);

// Runs Graphviz's `dot -Tsvg` on `dot`, writing OUT (stdout when empty). 0, or 3 after one line
// on stderr when dot cannot be run or fails.
int WriteSvg(const std::string& dot, const std::string& output);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_DOT_GRAPH_H_
