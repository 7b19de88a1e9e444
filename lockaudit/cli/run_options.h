// lockaudit/cli/run_options: the options of `lockaudit run`. One table maps each flag to the
// LOCKAUDIT_* variable it sets (DESIGN.md §4), the values it accepts and its help line; parsing,
// validation and `lockaudit run --help` all come from it.
#ifndef LOCKAUDIT_CLI_RUN_OPTIONS_H_
#define LOCKAUDIT_CLI_RUN_OPTIONS_H_

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "commands.h"

namespace lockaudit::cli {

// A parsed `lockaudit run` command line.
struct RunRequest {
  // LOCKAUDIT_* variable -> validated value, for every option given (the last one wins).
  std::map<std::string, std::string> env;
  std::vector<std::string> program;  // PROGRAM ARGS...
  bool help = false;                 // --help: nothing else was parsed
  bool quiet = false;                // -q/--quiet: no summary of lockaudit's own
  // --confirm: after the run, `lockaudit confirm` the report's cycles (docs/confirm.md), at most
  // confirm_runs runs each; confirm_exitcode: the exit status when one was confirmed.
  bool confirm = false;
  int confirm_runs = 10;
  std::optional<int> confirm_exitcode;

  // The value set for `variable`, if its option was given.
  std::optional<std::string> Get(const std::string& variable) const;
};

// Parses the arguments after "run". Options end at "--" or at the first argument that is not an
// option. On a bad option, a bad value or a missing program, prints one line to `err` naming the
// option and what it accepts, and returns nullopt (the caller exits 2).
std::optional<RunRequest> ParseRunArgs(const Args& args, std::ostream& err);

// The text of `lockaudit run --help`.
std::string RunHelp();

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_RUN_OPTIONS_H_
