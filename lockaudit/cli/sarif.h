// lockaudit/cli/sarif: a report's findings as SARIF 2.1.0 (the format GitHub code scanning and
// other CI systems read): one result per finding, the kind as the rule id, a location at the
// finding's first frame in the program's own source, and a code flow per lock-order edge with
// the program's frames of both stacks (where the held lock was taken, where the next one was
// requested).
#ifndef LOCKAUDIT_CLI_SARIF_H_
#define LOCKAUDIT_CLI_SARIF_H_

#include <string>

#include "report.h"

namespace lockaudit::cli {

// `source_root`: when not empty, files under it are written relative to it with the uriBaseId
// SRCROOT (what code scanning maps to the repository); other files stay absolute file: URIs.
std::string SarifReport(const Report& report, const std::string& source_root);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_SARIF_H_
