// tests/unit/cli/cli_test: runs the built `lockaudit` executable (LOCKAUDIT_CLI_PATH) on the JSON
// Lines fixtures in fixtures/ and checks its output and exit status. The engine and the shim are
// not needed: `run` tests point LOCKAUDIT_PRELOAD_LIB at nothing, and a "program" that copies a
// fixture to $LOCKAUDIT_REPORT stands in for the engine writing findings.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

constexpr char kCli[] = LOCKAUDIT_CLI_PATH;

std::string Fixture(const std::string& name) {
  return std::string(LOCKAUDIT_CLI_FIXTURES) + "/" + name;
}

// A path under the test temp directory, unique within this test process.
std::string TempPath(const std::string& name) {
  static int counter = 0;
  return testing::TempDir() + "lockaudit_cli_test_" + std::to_string(getpid()) + "_" +
         std::to_string(counter++) + "_" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

size_t CountOccurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

struct CliResult {
  int status = -1;  // exit code, or 128 + signal
  int signal = 0;   // the signal that ended lockaudit itself, or 0
  std::string out;
  std::string err;
};

// Environment changes for one CLI run: a value sets the variable, nullopt removes it.
using EnvChanges = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Runs `lockaudit args...` with `env` applied and returns its status, stdout and stderr.
CliResult RunCli(const std::vector<std::string>& args, const EnvChanges& env = {}) {
  const std::string out_path = TempPath("stdout");
  const std::string err_path = TempPath("stderr");
  std::vector<char*> argv = {const_cast<char*>(kCli)};
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) {
      value ? setenv(name.c_str(), value->c_str(), 1) : unsetenv(name.c_str());
    }
    dup2(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDOUT_FILENO);
    dup2(open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDERR_FILENO);
    execv(kCli, argv.data());
    _exit(126);
  }
  int raw = 0;
  waitpid(pid, &raw, 0);
  CliResult result;
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  result.signal = WIFSIGNALED(raw) ? WTERMSIG(raw) : 0;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return result;
}

// `run` without the shim: these tests check the CLI alone, whether or not the shim is built.
const EnvChanges kNoShim = {{"LOCKAUDIT_PRELOAD_LIB", ""}};

// The DOT node id ("n3") of the node labelled `label`, or "" when there is none.
std::string DotNodeId(const std::string& dot, const std::string& label) {
  const size_t at = dot.find("[label=\"" + label + "\"");
  if (at == std::string::npos) return "";
  const size_t start = dot.rfind('\n', at) + 1;
  return dot.substr(dot.find_first_not_of(' ', start), at - 1 - dot.find_first_not_of(' ', start));
}

// The DOT line of the edge from -> to, or "" when there is none.
std::string DotEdgeLine(const std::string& dot, const std::string& from, const std::string& to) {
  const size_t at = dot.find("  " + from + " -> " + to + " [");
  if (from.empty() || to.empty() || at == std::string::npos) return "";
  return dot.substr(at, dot.find('\n', at) - at);
}

bool HaveGraphvizDot() { return std::system("command -v dot >/dev/null 2>&1") == 0; }

TEST(CliTest, HelpForEveryCommand) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"run", "--help"}, {"report", "--help"}, {"graph", "--help"},
           {"merge", "--help"}}) {
    const CliResult result = RunCli(args);
    EXPECT_EQ(result.status, 0) << args.front();
    EXPECT_NE(result.out.find("usage: lockaudit"), std::string::npos) << result.out;
  }
}

TEST(CliTest, UnknownCommandIsAUsageError) {
  const CliResult result = RunCli({"frobnicate"});
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("frobnicate"), std::string::npos) << result.err;
}

TEST(ReportCommandTest, RendersKindLockNamesAndFileLine) {
  const CliResult result = RunCli({"report", Fixture("cycle.jsonl")});
  EXPECT_EQ(result.status, 1) << "the report holds findings";
  const std::string& out = result.out;
  EXPECT_NE(out.find("lockaudit: lock_order_cycle: lock-order cycle between 2 locks"),
            std::string::npos) << out;
  EXPECT_NE(out.find("  edge 1: accounts_mu -> ledger_mu (thread worker-1 tid 101)"),
            std::string::npos) << out;
  EXPECT_NE(out.find("    accounts_mu was acquired at:\n"
                     "    #0 Bank::transfer(int) /src/bank.cc:40 (bank)"),
            std::string::npos) << out;
  EXPECT_NE(out.find("    ledger_mu acquired at:\n"
                     "    #0 Bank::transfer(int) /src/bank.cc:42 (bank)"),
            std::string::npos) << out;
  EXPECT_NE(out.find("  edge 2: ledger_mu -> accounts_mu (thread worker-2 tid 102)"),
            std::string::npos) << out;
  EXPECT_NE(out.find("lockaudit: double_lock: cache_mu locked again"), std::string::npos) << out;
  EXPECT_NE(out.find("#0 Cache::get(int) /src/cache.cc:18 (bank)"), std::string::npos) << out;
  EXPECT_NE(out.find("123456 acquisitions"), std::string::npos) << out;
  // The line of unknown type is skipped without a complaint.
  EXPECT_EQ(result.err, "");
}

TEST(ReportCommandTest, MalformedLinesAreNamedAndTheRestIsProcessed) {
  const CliResult result = RunCli({"report", Fixture("malformed.jsonl")});
  EXPECT_EQ(result.status, 1) << "the readable lines hold findings";
  EXPECT_NE(result.err.find("malformed.jsonl:2:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("malformed.jsonl:3:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("malformed.jsonl:4:"), std::string::npos) << result.err;
  EXPECT_EQ(CountOccurrences(result.err, "\n"), 3u) << result.err;
  EXPECT_NE(result.out.find("first_mu"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("lockaudit: unlock_not_held:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("after_mu"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("/src/worker.cc:99"), std::string::npos) << result.out;
}

TEST(ReportCommandTest, UnreadableFileExits2) {
  const CliResult result = RunCli({"report", "/nonexistent/report.jsonl"});
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("/nonexistent/report.jsonl"), std::string::npos) << result.err;
}

TEST(GraphCommandTest, DotHasNodesAndCycleEdgesInRed) {
  const CliResult result = RunCli({"graph", Fixture("cycle.jsonl"), "--format", "dot"});
  ASSERT_EQ(result.status, 0) << result.err;
  const std::string& dot = result.out;
  EXPECT_NE(dot.find("digraph"), std::string::npos) << dot;
  const std::string accounts = DotNodeId(dot, "accounts_mu");
  const std::string ledger = DotNodeId(dot, "ledger_mu");
  const std::string unnamed = DotNodeId(dot, "0x5555aaaa0090 (level 4)");  // name empty: address
  ASSERT_FALSE(accounts.empty() || ledger.empty() || unnamed.empty()) << dot;
  EXPECT_NE(DotEdgeLine(dot, accounts, ledger).find("color=red"), std::string::npos) << dot;
  EXPECT_NE(DotEdgeLine(dot, ledger, accounts).find("color=red"), std::string::npos) << dot;
  const std::string plain = DotEdgeLine(dot, ledger, unnamed);
  ASSERT_FALSE(plain.empty()) << dot;
  EXPECT_EQ(plain.find("color=red"), std::string::npos) << plain;
}

TEST(GraphCommandTest, DotToOutputFile) {
  const std::string output = TempPath("graph.dot");
  const CliResult result = RunCli({"graph", Fixture("cycle.jsonl"), "-o", output});
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_NE(ReadFile(output).find("label=\"accounts_mu\""), std::string::npos);
  unlink(output.c_str());
}

TEST(GraphCommandTest, SvgThroughGraphviz) {
  if (!HaveGraphvizDot()) GTEST_SKIP() << "Graphviz 'dot' is not installed";
  const CliResult result = RunCli({"graph", Fixture("cycle.jsonl"), "--format=svg"});
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("<?xml") || result.out.find("<svg") != std::string::npos)
      << result.out.substr(0, 200);
  EXPECT_NE(result.out.find("accounts_mu"), std::string::npos);
}

TEST(GraphCommandTest, SvgWithoutGraphvizExits3) {
  const CliResult result =
      RunCli({"graph", Fixture("cycle.jsonl"), "--format", "svg"}, {{"PATH", "/nonexistent"}});
  EXPECT_EQ(result.status, 3) << "no output could be made";
  EXPECT_NE(result.err.find("'dot'"), std::string::npos) << result.err;
  EXPECT_EQ(CountOccurrences(result.err, "\n"), 1u) << result.err;
}

TEST(GraphCommandTest, BadFormatIsAUsageError) {
  const CliResult result = RunCli({"graph", Fixture("cycle.jsonl"), "--format", "png"});
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("--format"), std::string::npos) << result.err;
}

TEST(MergeCommandTest, TwoRunsEachWithOneEdgeMakeOneCrossRunCycle) {
  const CliResult result = RunCli({"merge", Fixture("run_a.jsonl"), Fixture("run_b.jsonl")});
  EXPECT_EQ(result.status, 1);
  const std::string& out = result.out;
  EXPECT_EQ(CountOccurrences(out, "\ncycle "), 1u) << out;
  EXPECT_NE(out.find("cycle 1 (cross-run): cache_mu -> queue_mu -> cache_mu"), std::string::npos)
      << out;
  EXPECT_NE(out.find("run_a.jsonl (pid 200)"), std::string::npos) << out;
  EXPECT_NE(out.find("run_b.jsonl (pid 300)"), std::string::npos) << out;
  EXPECT_NE(out.find("/src/cache.cc:55"), std::string::npos) << out;
}

TEST(MergeCommandTest, AcyclicFileExits0AndCountsUnnamedEdges) {
  const CliResult result = RunCli({"merge", Fixture("acyclic.jsonl")});
  EXPECT_EQ(result.status, 0) << result.out;
  EXPECT_NE(result.out.find("no lock-order cycle"), std::string::npos) << result.out;
  // c_mu -> "" and "0x4000" -> a_mu: without them, the locks would form a cycle.
  EXPECT_NE(result.out.find("skipped 2 edges"), std::string::npos) << result.out;
}

TEST(MergeCommandTest, ListsEveryElementaryCycleOnce) {
  const CliResult result = RunCli({"merge", Fixture("two_cycles.jsonl")});
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(CountOccurrences(result.out, "(within one run)"), 2u) << result.out;
  EXPECT_NE(result.out.find("a_mu -> b_mu -> a_mu\n"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("a_mu -> b_mu -> c_mu -> a_mu\n"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("(cross-run)"), std::string::npos) << result.out;
}

TEST(MergeCommandTest, UnreadableFileExits2) {
  const CliResult result = RunCli({"merge", Fixture("run_a.jsonl"), "/nonexistent.jsonl"});
  EXPECT_EQ(result.status, 2);
}

TEST(RunCommandTest, MissingProgramExits127) {
  const CliResult result = RunCli({"run", "--", "/nonexistent/program", "arg"}, kNoShim);
  EXPECT_EQ(result.status, 127);
  EXPECT_NE(result.err.find("/nonexistent/program"), std::string::npos) << result.err;
}

TEST(RunCommandTest, ExitcodeWithoutFindingsKeepsProgramStatus) {
  const CliResult result = RunCli({"run", "--exitcode", "66", "--", "/bin/true"}, kNoShim);
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_NE(result.err.find("warning: shim"), std::string::npos) << result.err;
}

TEST(RunCommandTest, ExitsWithProgramStatus) {
  EXPECT_EQ(RunCli({"run", "--", "/bin/sh", "-c", "exit 3"}, kNoShim).status, 3);
}

TEST(RunCommandTest, KilledProgramGives128PlusSignal) {
  EXPECT_EQ(RunCli({"run", "--", "/bin/sh", "-c", "kill -9 $$"}, kNoShim).status, 137);
}

// Issue 15: run ends by the program's signal, as valgrind does, so that a caller (ctest, a shell,
// make) sees a crash, not an exit status; after the summary, which is printed first.
TEST(RunCommandTest, KilledProgramsSignalEndsRunToo) {
  const CliResult r = RunCli({"run", "--", "/bin/sh", "-c", "kill -TERM $$"}, kNoShim);
  EXPECT_EQ(r.signal, SIGTERM) << r.err;
  EXPECT_NE(r.err.find("was killed by signal 15"), std::string::npos) << r.err;
  const CliResult ok = RunCli({"run", "--", "/bin/sh", "-c", "exit 3"}, kNoShim);
  EXPECT_EQ(ok.signal, 0);
  EXPECT_EQ(ok.status, 3);
}

TEST(RunCommandTest, ExitcodeAppliesToFindingsOfAKilledProgram) {
  const std::string report = TempPath("report.jsonl");
  const std::string fake_engine =
      "cp '" + Fixture("cycle.jsonl") + "' \"$LOCKAUDIT_REPORT\"; kill -9 $$";
  const CliResult result =
      RunCli({"run", "--exitcode", "66", "--report", report, "--", "/bin/sh", "-c", fake_engine},
             kNoShim);
  EXPECT_EQ(result.status, 66) << result.err;
  EXPECT_NE(result.err.find("2 findings"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("lock_order_cycle: accounts_mu, ledger_mu"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("full report: " + report), std::string::npos) << result.err;
  unlink(report.c_str());
}

TEST(RunCommandTest, OptionsBecomeLockauditVariables) {
  const std::string check =
      "test \"$LOCKAUDIT_STALL_MS\" = 250 && test \"$LOCKAUDIT_ON_DEADLOCK\" = abort && "
      "test \"$LOCKAUDIT_DISABLE\" = 1 && test \"$LOCKAUDIT_PROMETHEUS\" = 127.0.0.1:9464 && "
      "test \"$LOCKAUDIT_NONBLOCKING_THREADS\" = 'loop-*,io' && test -f \"$LOCKAUDIT_REPORT\"";
  const CliResult result = RunCli({"run", "--stall-ms", "250", "--on-deadlock=abort", "--disable",
                                   "--prometheus", "9464", "--nonblocking-threads", "loop-*,io",
                                   "--", "/bin/sh", "-c", check},
                                  kNoShim);
  EXPECT_EQ(result.status, 0) << result.err;
}

TEST(RunCommandTest, ShimIsPrependedToLdPreload) {
  // Not a real library: the dynamic loader warns and ignores it, which is all this test needs.
  const std::string shim = TempPath("fake_shim.so");
  WriteFile(shim, "");
  const std::string check = "test \"$LD_PRELOAD\" = '" + shim + ":/nonexistent/other.so'";
  const CliResult result = RunCli({"run", "--", "/bin/sh", "-c", check},
                                  {{"LOCKAUDIT_PRELOAD_LIB", shim},
                                   {"LD_PRELOAD", "/nonexistent/other.so"}});
  EXPECT_EQ(result.status, 0) << result.err;
  unlink(shim.c_str());
}

TEST(RunCommandTest, BadOptionValuesExit2NamingTheOption) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--stall-ms", "abc"}, {"--exitcode", "300"}, {"--on-deadlock", "hang"},
           {"--prometheus", "host:notaport"}, {"--hierarchy", "/nonexistent/levels"}}) {
    std::vector<std::string> command = {"run", args[0], args[1], "--", "/bin/true"};
    const CliResult result = RunCli(command, kNoShim);
    EXPECT_EQ(result.status, 2) << args[0];
    EXPECT_NE(result.err.find(args[0]), std::string::npos) << result.err;
    EXPECT_EQ(CountOccurrences(result.err, "\n"), 1u) << result.err;
  }
}

// core/options.inc is the one option table: every variable but the one the engine sets for
// child processes has a `run` flag, with the engine's own range.
TEST(RunCommandTest, EveryOptionOfTheTableHasAFlagWithTheEnginesRange) {
  std::vector<std::pair<std::string, std::string>> table;  // variable, field
#define LOCKAUDIT_OPTION(field, variable, type, default_text, description) \
  table.emplace_back(#variable, #field);
#define LOCKAUDIT_OPTION_RANGE(field, lo, hi)
#include "options.inc"
#undef LOCKAUDIT_OPTION
#undef LOCKAUDIT_OPTION_RANGE
  const CliResult help = RunCli({"run", "--help"}, kNoShim);
  ASSERT_EQ(help.status, 0);
  size_t flags = 0;
  for (auto [variable, field] : table) {
    if (variable == "LOCKAUDIT_REPORT_APPEND" || variable == "LOCKAUDIT_CONFIRM") continue;
    std::string flag = "--" + field;
    for (char& c : flag) c = c == '_' ? '-' : c;
    EXPECT_NE(help.out.find("  " + flag), std::string::npos) << flag << " missing from run --help";
    EXPECT_NE(help.out.find("      " + variable), std::string::npos) << variable;
    ++flags;
  }
  EXPECT_GE(flags, 15u);
  // Ranges are the engine's (LOCKAUDIT_OPTION_RANGE): what it would refuse, run refuses.
  std::vector<std::vector<std::string>> refused = {{"--stall-ms", "0"}, {"--stall-ms", "86400001"},
                                                   {"--max-series", "0"}, {"--stack-depth", "129"},
                                                   {"--wake-budget-ms", "0"}};
#define LOCKAUDIT_OPTION(field, variable, type, default_text, description)
#define LOCKAUDIT_OPTION_RANGE(field, lo, hi) \
  refused.push_back({"--" #field, std::to_string(static_cast<long long>(hi) + 1)});
#include "options.inc"
#undef LOCKAUDIT_OPTION
#undef LOCKAUDIT_OPTION_RANGE
  for (std::vector<std::string> args : refused) {
    for (char& c : args[0]) c = c == '_' ? '-' : c;
    const CliResult r = RunCli({"run", args[0], args[1], "--", "/bin/true"}, kNoShim);
    EXPECT_EQ(r.status, 2) << args[0] << " " << args[1] << " accepted";
  }
  const CliResult ok = RunCli({"run", "--stack-depth", "128", "--max-series", "7", "--cuda",
                               "--gtest", "--wake-budget-ms", "5", "--", "/bin/sh", "-c",
                               "test \"$LOCKAUDIT_STACK_DEPTH$LOCKAUDIT_MAX_SERIES\" = 1287 && "
                               "test \"$LOCKAUDIT_CUDA$LOCKAUDIT_GTEST$LOCKAUDIT_WAKE_BUDGET_MS\" = 115"},
                              kNoShim);
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST(RunCommandTest, QuietPrintsNoSummaryButKeepsTheExitStatus) {
  const CliResult loud = RunCli({"run", "--", "/bin/sh", "-c", "exit 3"}, kNoShim);
  ASSERT_NE(loud.err.find("lockaudit: ----"), std::string::npos) << loud.err;
  const CliResult quiet = RunCli({"run", "-q", "--", "/bin/sh", "-c", "exit 3"}, kNoShim);
  EXPECT_EQ(quiet.status, 3);
  EXPECT_EQ(quiet.err.find("lockaudit: ----"), std::string::npos) << quiet.err;
  EXPECT_EQ(quiet.err.find("lockaudit: no"), std::string::npos) << quiet.err;
}

// One convention for every subcommand: 2 for a usage error or an input that cannot be read.
TEST(CliTest, ExitStatusesAreTheSameAcrossSubcommands) {
  for (const char* command : {"report", "graph", "merge"}) {
    EXPECT_EQ(RunCli({command, "/nonexistent/r.jsonl"}).status, 2) << command << " unreadable";
    EXPECT_EQ(RunCli({command, "--frobnicate", Fixture("cycle.jsonl")}).status, 2) << command;
  }
  EXPECT_EQ(RunCli({"run", "--frobnicate", "--", "/bin/true"}, kNoShim).status, 2);
  EXPECT_EQ(RunCli({"frobnicate"}).status, 2);
  // Findings are 1 where a subcommand reads findings: report and merge.
  EXPECT_EQ(RunCli({"report", Fixture("cycle.jsonl")}).status, 1);
  EXPECT_EQ(RunCli({"merge", Fixture("two_cycles.jsonl")}).status, 1);
  EXPECT_EQ(RunCli({"merge", Fixture("acyclic.jsonl")}).status, 0);
}

}  // namespace
