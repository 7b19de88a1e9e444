// lockaudit/cli/report_reader: reads a JSON Lines report (DESIGN.md §5) into a Report.
//
// Line types other than finding, edge and summary are skipped silently (readers must accept newer
// engines). A line that is not a JSON object with a string "type" is named on the diagnostics
// stream as "lockaudit: <file>:<line>: <why>; line skipped" and reading goes on, so a report cut
// short by a killed program still yields everything before the damage. Fields of the wrong type
// are treated as absent.
#ifndef LOCKAUDIT_CLI_REPORT_READER_H_
#define LOCKAUDIT_CLI_REPORT_READER_H_

#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include "report.h"

namespace lockaudit::cli {

// Reads `path`. When the file cannot be read at all, prints one line to `diagnostics` and returns
// nullopt.
std::optional<Report> ReadReport(const std::string& path, std::ostream& diagnostics);

// Reads an open stream as ReadReport reads a file: `name` stands for the file in diagnostics and
// in Report::path. Returns nullopt (one line printed) when the stream fails with a read error.
// ReadReport is this after opening the file; the fuzz target (tests/fuzz) drives it directly.
std::optional<Report> ReadReportStream(std::istream& in, const std::string& name,
                                       std::ostream& diagnostics);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_REPORT_READER_H_
