// lockaudit/cli/graph_command: `lockaudit graph FILE.jsonl --format dot|svg [-o OUT]` writes the
// lock-order graph of a report as DOT, or as SVG by piping the DOT text through Graphviz's `dot`.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string_view>

#include "commands.h"
#include "dot_graph.h"
#include "process.h"
#include "report_reader.h"

namespace lockaudit::cli {
namespace {

constexpr std::string_view kGraphHelp =
    R"(usage: lockaudit graph FILE.jsonl [--format dot|svg] [-o OUT]

Rebuilds the lock-order graph from the "edge" lines of a JSON Lines report: a
node per lock (labelled by name, or by address when it has none), an edge
A -> B when B was acquired while A was held. Edges of lock-order cycles
(potential deadlocks) are drawn red and bold.

options:
  --format dot|svg   dot (default): Graphviz source; svg: rendered by Graphviz's
                     `dot` program, which must be in PATH
  -o, --output OUT   write to OUT instead of stdout

exit status: 0 when the graph was written (whether or not it has a cycle); 2 if
FILE cannot be read, or for a usage error; 3 if OUT cannot be written, or `dot`
is missing or fails.
)";

struct GraphArgs {
  std::string input;
  std::string format = "dot";
  std::string output;  // empty: stdout
};

std::optional<GraphArgs> ParseGraphArgs(const Args& args) {
  GraphArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.starts_with("--format")) {
      std::optional<std::string> value = OptionValue(args, i, "--format");
      if (!value || (*value != "dot" && *value != "svg")) {
        std::cerr << "lockaudit: graph: --format: expected dot or svg\n";
        return std::nullopt;
      }
      parsed.format = *value;
    } else if (arg == "-o" || arg.starts_with("--output")) {
      std::optional<std::string> value = OptionValue(args, i, arg == "-o" ? "-o" : "--output");
      if (!value || value->empty()) {
        std::cerr << "lockaudit: graph: " << arg << ": expected an output file\n";
        return std::nullopt;
      }
      parsed.output = *value;
    } else if (arg.starts_with("-") || !parsed.input.empty()) {
      std::cerr << "lockaudit: graph: unexpected argument '" << arg
                << "'; see 'lockaudit graph --help'\n";
      return std::nullopt;
    } else {
      parsed.input = arg;
    }
  }
  if (parsed.input.empty()) {
    std::cerr << "lockaudit: graph: no report file given; see 'lockaudit graph --help'\n";
    return std::nullopt;
  }
  return parsed;
}

int WriteDot(const std::string& dot, const std::string& output) {
  if (output.empty()) {
    std::cout << dot;
    return 0;
  }
  std::ofstream out(output);
  if (out << dot && out.flush()) return 0;
  std::cerr << "lockaudit: graph: cannot write " << output << ": " << std::strerror(errno) << "\n";
  return 3;
}

// Writes `text` to `fd` until all is written or the reader went away (its exit status tells).
void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = write(fd, text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return;
    text.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace

int WriteSvg(const std::string& dot, const std::string& output) {
  std::vector<std::string> argv = {"dot", "-Tsvg"};
  if (!output.empty()) argv.insert(argv.end(), {"-o", output});
  int to_dot[2];
  if (pipe2(to_dot, O_CLOEXEC) != 0) {
    std::cerr << "lockaudit: graph: cannot create a pipe: " << std::strerror(errno) << "\n";
    return 3;
  }
  const SpawnResult child = Spawn(argv, SpawnOptions{.stdin_fd = to_dot[0]});
  close(to_dot[0]);
  if (child.pid < 0) {
    close(to_dot[1]);
    std::cerr << "lockaudit: graph: --format svg needs Graphviz's 'dot' program: cannot run dot: "
              << std::strerror(child.error) << "\n";
    return 3;
  }
  signal(SIGPIPE, SIG_IGN);  // a failing dot shows as its exit status, not as our death
  WriteAll(to_dot[1], dot);
  close(to_dot[1]);
  const ProcessExit exit = WaitForExit(child.pid);
  if (exit.status == 0) return 0;
  std::cerr << "lockaudit: graph: dot failed with exit status " << exit.status << "\n";
  return 3;
}

namespace {

}  // namespace

std::optional<std::string> OptionValue(const Args& args, size_t& i, std::string_view flag) {
  const std::string& arg = args[i];
  if (arg.size() > flag.size() && arg.starts_with(flag) && arg[flag.size()] == '=') {
    return arg.substr(flag.size() + 1);
  }
  if (arg != flag || i + 1 == args.size()) return std::nullopt;
  return args[++i];
}

int GraphMain(const Args& args) {
  if (WantsHelp(args)) {
    std::cout << kGraphHelp;
    return 0;
  }
  std::optional<GraphArgs> parsed = ParseGraphArgs(args);
  if (!parsed) return 2;
  std::optional<Report> report = ReadReport(parsed->input, std::cerr);
  if (!report) return 2;
  const std::string dot = BuildLockOrderDot(*report);
  return parsed->format == "svg" ? WriteSvg(dot, parsed->output) : WriteDot(dot, parsed->output);
}

}  // namespace lockaudit::cli
