// lockaudit/cli/main: entry point of the `lockaudit` tool; dispatches to a subcommand.
#include <exception>
#include <iostream>
#include <string_view>

#include "commands.h"

namespace lockaudit::cli {
namespace {

constexpr std::string_view kUsage = R"(usage: lockaudit <command> [arguments]

Runtime deadlock detector: finds lock-order cycles, hierarchy violations, lock
misuse, actual deadlocks and stalls in C and C++ programs.

commands:
  run [options] -- PROGRAM ARGS...
      run PROGRAM under the lockaudit shim (LD_PRELOAD), then summarize findings
  report FILE.jsonl [--format text|sarif|html]
      render a JSON Lines report as text, as SARIF 2.1.0 for code scanning, or
      as one HTML page
  graph FILE.jsonl [--format dot|svg] [-o OUT]
      draw the lock-order graph, cycles in red
  merge A.jsonl B.jsonl ...
      join the graphs of several runs and list their lock-order cycles,
      including those no single run saw
  profile FILE.jsonl [--format pprof|folded|top] [-o OUT]
      where threads waited for locks, by call path: a pprof profile for
      go tool pprof, folded stacks for flame graphs, or a top list
  confirm [options] FILE.jsonl -- PROGRAM ARGS...
      re-run PROGRAM, steering its threads into each lock-order cycle of the
      report: confirmed (an actual deadlock, with its stacks) or not reproduced

exit status, the same for every command: 0 nothing found; 1 findings (report:
the report holds some; merge: a cycle; confirm: a cycle confirmed; run: with
--exitcode, else the program's own status); 2 a usage error or an input that cannot be read; graph: 3 when its
output cannot be written.

'lockaudit <command> --help' describes a command; 'lockaudit --version' prints
the version.
)";

struct Command {
  std::string_view name;
  int (*main)(const Args& args);
};

constexpr Command kCommands[] = {
    {"run", RunMain},
    {"report", ReportMain},
    {"graph", GraphMain},
    {"merge", MergeMain},
    {"confirm", ConfirmMain},
    {"profile", ProfileMain},
};

int Dispatch(const Args& args) {
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& name = args.front();
  if (name == "--help" || name == "-h" || name == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (name == "--version") {
    std::cout << "lockaudit " << LOCKAUDIT_VERSION << "\n";
    return 0;
  }
  for (const Command& command : kCommands) {
    if (command.name == name) return command.main(Args(args.begin() + 1, args.end()));
  }
  std::cerr << "lockaudit: unknown command '" << name << "'; see 'lockaudit --help'\n";
  return 2;
}

}  // namespace

bool WantsHelp(const Args& args) {
  for (const std::string& arg : args) {
    if (arg == "--") return false;
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

}  // namespace lockaudit::cli

int main(int argc, char** argv) {
  try {
    return lockaudit::cli::Dispatch(lockaudit::cli::Args(argv + 1, argv + argc));
  } catch (const std::exception& error) {
    std::cerr << "lockaudit: internal error: " << error.what() << "\n";
    return 1;
  }
}
