// lockaudit/cli/confirm_command: `lockaudit confirm` (docs/confirm.md): for each lock-order
// cycle of a report, re-runs the program under the shim with a plan (LOCKAUDIT_CONFIRM) that
// pauses threads at the cycle's sites until they line up; an actual deadlock in such a run
// confirms the cycle. Also used by `lockaudit run --confirm`.
#ifndef LOCKAUDIT_CLI_CONFIRM_COMMAND_H_
#define LOCKAUDIT_CLI_CONFIRM_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace lockaudit::cli {

struct ConfirmSettings {
  int runs = 10;            // at most this many runs per cycle
  int timeout_s = 60;       // per run; the program's process group is killed after it
  int pause_ms = 500;       // the longest pause at an edge in run 1 (longer in later runs)
  bool show_output = false; // the confirm runs' stdout/stderr reach the terminal
};

struct ConfirmOutcome {
  int cycles = 0;     // lock-order cycles in the report
  int confirmed = 0;  // of them, reproduced as an actual deadlock
  bool ok = true;     // false: the report could not be read (a line was printed)
};

// Confirms every lock-order cycle of the report at `report_path` by running `program`; appends
// one "confirm" line per cycle to that report and prints the results to `out`.
ConfirmOutcome ConfirmCycles(const ConfirmSettings& settings, const std::string& report_path,
                             const std::vector<std::string>& program, std::ostream& out);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_CONFIRM_COMMAND_H_
