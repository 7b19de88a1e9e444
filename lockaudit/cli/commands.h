// lockaudit/cli/commands: the subcommands of the `lockaudit` tool (DESIGN.md §3). Each takes the
// arguments after its name, writes its output to stdout and its diagnostics to stderr, and
// returns the process exit status. Every subcommand answers --help; a usage error exits 2.
#ifndef LOCKAUDIT_CLI_COMMANDS_H_
#define LOCKAUDIT_CLI_COMMANDS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockaudit::cli {

using Args = std::vector<std::string>;

// lockaudit run [options] -- PROGRAM ARGS...
int RunMain(const Args& args);
// lockaudit report FILE.jsonl
int ReportMain(const Args& args);
// lockaudit graph FILE.jsonl [--format dot|svg] [-o OUT]
int GraphMain(const Args& args);
// lockaudit merge A.jsonl B.jsonl ...
int MergeMain(const Args& args);

// lockaudit profile FILE.jsonl [--format pprof|folded|top] [-o OUT]
int ProfileMain(const Args& args);
// lockaudit confirm [options] REPORT.jsonl -- PROGRAM ARGS...
int ConfirmMain(const Args& args);

// The shim lockaudit preloads: $LOCKAUDIT_PRELOAD_LIB when set, else liblockaudit_preload.so
// in the lib directory of the tree lockaudit runs from.
std::string ShimPath();

// True when `args` ask for help (--help or -h anywhere before a "--").
bool WantsHelp(const Args& args);

// Takes the value of `flag` from "--flag=value" (args[i]) or from the next argument (i advances);
// nullopt when args[i] is not that flag or the value is missing.
std::optional<std::string> OptionValue(const Args& args, size_t& i, std::string_view flag);

}  // namespace lockaudit::cli

#endif  // LOCKAUDIT_CLI_COMMANDS_H_
