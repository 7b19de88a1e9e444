// lockaudit/cli/run_summary: the one-screen summary `lockaudit run` prints to stderr after the
// program ended, and the exit status it then returns.
#ifndef LOCKAUDIT_CLI_RUN_SUMMARY_H_
#define LOCKAUDIT_CLI_RUN_SUMMARY_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "process.h"
#include "report.h"

namespace lockaudit::cli {

// What `lockaudit run` knows about the run it summarizes.
struct RunContext {
  std::string program;
  pid_t pid = -1;
  ProcessExit exit;
  std::string report_path;          // the file read (%p expanded)
  bool report_kept = false;         // --report was given; otherwise the file is deleted
  std::optional<std::string> log;   // LOCKAUDIT_LOG as the program saw it
  std::optional<int> exitcode;      // --exitcode
  bool audited = false;             // the shim was preloaded
  bool statically_linked = false;   // the program has no ELF interpreter: LD_PRELOAD cannot attach
  bool disabled = false;            // LOCKAUDIT_DISABLE=1 (--disable)
  bool count_ordered = false;       // LOCKAUDIT_COUNT_ORDERED=1 (--count-ordered)
};

// Findings in `report`: its finding lines, or the summary counters when they say more (a finding
// line may have been lost when the program was killed while writing it). Lock-order cycles
// marked ordered count only with `count_ordered`.
int64_t CountFindings(const Report& report, bool count_ordered = true);

// The program's status, or --exitcode's when `findings` > 0: the answer the engine gives itself
// at a normal exit, also when the program was killed.
int RunExitStatus(const RunContext& context, int64_t findings);

// `report` is null when the report file could not be read.
void PrintRunSummary(const Report* report, const RunContext& context, std::ostream& out);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_RUN_SUMMARY_H_
