// lockaudit/cli/text_format: plain-text rendering of report records, shared by `lockaudit report`,
// `run`, `graph` and `merge`. Findings use the engine's stderr layout (DESIGN.md §5):
//
//   lockaudit: <kind>: <message>
//     edge 1: a_mu -> b_mu (thread worker-1 tid 124)
//       a_mu was acquired at:
//       #0 Bank::transfer(int) /src/bank.cc:40 (bank)
//       b_mu acquired at:
//       #0 Bank::transfer(int) /src/bank.cc:42 (bank)
#ifndef LOCKAUDIT_CLI_TEXT_FORMAT_H_
#define LOCKAUDIT_CLI_TEXT_FORMAT_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "report.h"

namespace lockaudit::cli {

// The lock's name; its address when it has no name; "lock #<id>" when it has neither.
std::string LockDisplayName(const LockInfo& lock);

// Display names of the locks a finding lists, in its order.
std::vector<std::string> FindingLockNames(const Finding& finding);

// "function file:line (module)", leaving out what the frame lacks (the pc stands in for a
// missing function name).
std::string FormatFrame(const Frame& frame);

// "worker-1 tid 124", or whichever part is known.
std::string FormatThread(const ThreadInfo& thread);

// "1 finding", "3 findings".
std::string CountOf(int64_t count, std::string_view noun);

// "a, b, c".
std::string Join(const std::vector<std::string>& items, std::string_view separator = ", ");

void RenderFinding(const Finding& finding, std::ostream& out);

// What `lockaudit confirm` made of one cycle: "confirmed in run 2 of ..." with where the threads
// paused and the actual deadlock, or "not reproduced in N runs" and why.
void RenderConfirm(const ConfirmRecord& record, std::ostream& out);

// "lockaudit: summary (pid 123): 1 finding, 0 suppressed, 12 locks, ..."
void RenderSummary(const Summary& summary, std::ostream& out);
// "lockaudit: suppression '<rule>' (<file>:<line>) matched N findings", one line per rule that
// matched in any of the summaries (counts added up across processes).
void PrintSuppressionsUsed(const std::vector<Summary>& summaries, std::ostream& out);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_TEXT_FORMAT_H_
