// lockaudit/cli/profile_command: `lockaudit profile FILE.jsonl [--format pprof|folded|top]
// [-o OUT]`: the report's contention profile for `go tool pprof`, flame-graph tools, or a reader.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "commands.h"
#include "profile.h"
#include "report_reader.h"

namespace lockaudit::cli {
namespace {

constexpr std::string_view kProfileHelp = R"(usage: lockaudit profile FILE.jsonl [--format pprof|folded|svg|top] [--by waiter|holder] [-o OUT]

Writes the contention profile of a report: where threads waited for locks, by
call path (the waiter's stack, sampled 1 in LOCKAUDIT_PROFILE_RATE contended
acquisitions, totals scaled back; docs/report.md, "contention" lines).

  --by waiter      (default) the waits by the waiting thread's stack
  --by holder      the same waits by where the thread that held the lock when
                   each wait began had taken it (its acquisition site: one
                   call site, not a whole stack; "contention_holder" lines)

  --format pprof   (default) a gzipped profile.proto with the sample types
                   contentions/count and delay/nanoseconds and a "lock" label per
                   sample: go tool pprof -top OUT (or -http=:8080 OUT)
  --format folded  "frame;frame;...;lock NAME nanoseconds" lines, root first, for
                   flamegraph.pl and speedscope
  --format svg     a flame graph of the wait time (self-contained SVG)
  --format top     the call paths that waited longest, as text
  -o OUT           write to OUT instead of stdout (pprof refuses a terminal)

exit status: 0 written (also when the report has no contention lines: an empty
profile); 2 usage error or FILE unreadable; 3 OUT cannot be written.
)";

}  // namespace

int ProfileMain(const Args& args) {
  if (WantsHelp(args)) {
    std::cout << kProfileHelp;
    return 0;
  }
  std::string format = "pprof", output, input, by = "waiter";
  for (size_t i = 0; i < args.size(); ++i) {
    if (std::optional<std::string> v = OptionValue(args, i, "--format")) {
      format = *v;
    } else if (std::optional<std::string> b = OptionValue(args, i, "--by")) {
      by = *b;
    } else if (std::optional<std::string> o = OptionValue(args, i, "-o")) {
      output = *o;
    } else if (args[i].starts_with("-") || !input.empty()) {
      std::cerr << "lockaudit: profile: unexpected argument '" << args[i]
                << "'; see 'lockaudit profile --help'\n";
      return 2;
    } else {
      input = args[i];
    }
  }
  if (input.empty() || (format != "pprof" && format != "folded" && format != "svg" &&
                          format != "top")) {
    std::cerr << "lockaudit: profile: expected FILE.jsonl and --format pprof, folded, svg or top; see "
                 "'lockaudit profile --help'\n";
    return 2;
  }
  if (by != "waiter" && by != "holder") {
    std::cerr << "lockaudit: profile: --by takes waiter or holder, not '" << by
              << "'; see 'lockaudit profile --help'\n";
    return 2;
  }
  const bool holders = by == "holder";
  std::optional<Report> report = ReadReport(input, std::cerr);
  if (!report) return 2;
  const std::vector<ContentionRecord>& records =
      holders ? report->holder_contentions : report->contentions;
  if (records.empty()) {
    std::cerr << "lockaudit: profile: " << input << " has no "
              << (holders ? "contention_holder" : "contention")
              << " lines (no contended lock, LOCKAUDIT_PROFILE_RATE=0, or the program did not "
                 "reach its exit)\n";
  }
  std::string data;
  if (format == "pprof") {
    data = Gzip(EncodePprof(records));
    if (output.empty() && isatty(STDOUT_FILENO)) {
      std::cerr << "lockaudit: profile: a pprof profile is binary: give -o OUT\n";
      return 2;
    }
  } else if (format == "folded") {
    data = FoldedStacks(records);
  } else if (format == "svg") {
    data = FlameGraphSvg(records, (holders ? "lock wait time by the holder's acquisition site: "
                                           : "lock wait time by call path: ") + input);
  } else {
    std::ostringstream text;
    if (holders) {
      PrintTopHolders(records, 20, text);
    } else {
      PrintTopPaths(records, 20, text);
    }
    data = text.str();
  }
  if (output.empty()) {
    std::cout << data;
    return std::cout.flush() ? 0 : 3;
  }
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) {
    std::cerr << "lockaudit: profile: cannot write " << output << "\n";
    return 3;
  }
  return 0;
}

}  // namespace lockaudit::cli
