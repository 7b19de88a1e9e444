// lockaudit/cli/run_options: the option table of `lockaudit run`, its parser and its validators.
#include "run_options.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace lockaudit::cli {
namespace {

// What an option's value must look like.
enum class Accepts {
  kFlag,          // no value; sets the variable to 1
  kPath,          // any file path; made absolute
  kReadableFile,  // an existing, readable file; made absolute
  kLog,           // stderr, off, or a path (made absolute)
  kInt,           // an integer in the option's range (core/options.inc)
  kOnDeadlock,    // report or abort
  kGlobs,         // comma-separated non-empty globs
  kHostPort,      // [HOST:]PORT; the host defaults to 127.0.0.1
};

struct RunOption {
  std::string flag;      // --<field> with '_' as '-'
  std::string variable;
  std::string meta;      // value placeholder in --help; empty for a flag
  std::string accepted;  // what a bad value is told to be instead
  std::string help;      // core/options.inc's description, and its default
  Accepts accepts;
  long long min = 0, max = 0;  // kInt: LOCKAUDIT_OPTION_RANGE
};

// The accepted range of an Int option: core/options.inc's LOCKAUDIT_OPTION_RANGE, the same the
// engine checks, so the CLI never accepts what the engine would refuse (or the reverse).
std::pair<long long, long long> RangeOf(std::string_view field) {
#define LOCKAUDIT_OPTION(field, variable, type, default_text, description)
#define LOCKAUDIT_OPTION_RANGE(name, lo, hi) \
  if (field == #name) return {lo, hi};
#include "options.inc"
#undef LOCKAUDIT_OPTION
#undef LOCKAUDIT_OPTION_RANGE
  return {0, 2147483647};
}

// `lockaudit run`'s flags: one per variable of core/options.inc (the one option table; the
// engine parses the same variables), except LOCKAUDIT_REPORT_APPEND, which the engine sets for
// the processes it starts. How a value is checked follows from its type, and for a few
// variables from what they hold (a file that must be readable, a log target, an address).
std::vector<RunOption> MakeRunOptions() {
  std::vector<RunOption> out;
  auto add = [&out](std::string_view field, std::string_view variable, std::string_view type,
                    std::string_view default_text, std::string_view description) {
    // Set by the engine for the processes it starts, and by `lockaudit confirm` for its runs.
    if (variable == "LOCKAUDIT_REPORT_APPEND" || variable == "LOCKAUDIT_CONFIRM") return;
    RunOption o;
    o.flag = "--" + std::string(field);
    for (char& c : o.flag) c = c == '_' ? '-' : c;
    o.variable = variable;
    o.help = std::string(description) +
             (default_text.empty() ? "" : " (default: " + std::string(default_text) + ")");
    if (type == "Bool") {
      o.accepts = Accepts::kFlag;
    } else if (type == "Int") {
      o.accepts = Accepts::kInt;
      std::tie(o.min, o.max) = RangeOf(field);
      o.meta = "N";
      o.accepted = "an integer from " + std::to_string(o.min) + " to " + std::to_string(o.max);
    } else if (type == "Enum_report_abort") {
      o.accepts = Accepts::kOnDeadlock;
      o.meta = "report|abort";
      o.accepted = "report or abort";
    } else if (field == "log") {
      o.accepts = Accepts::kLog;
      o.meta = "stderr|off|PATH";
      o.accepted = "stderr, off or a file path";
    } else if (field == "hierarchy" || field == "suppressions") {
      o.accepts = Accepts::kReadableFile;
      o.meta = "FILE";
      o.accepted = "a readable file";
    } else if (field == "prometheus") {
      o.accepts = Accepts::kHostPort;
      o.meta = "[HOST:]PORT";
      o.accepted = "[HOST:]PORT with PORT from 0 to 65535";
    } else if (field == "nonblocking_threads") {
      o.accepts = Accepts::kGlobs;
      o.meta = "GLOBS";
      o.accepted = "comma-separated globs on thread names";
    } else {  // Path
      o.accepts = Accepts::kPath;
      o.meta = "FILE";
      o.accepted = "a file path (%p expands to the pid)";
    }
    out.push_back(std::move(o));
  };
#define LOCKAUDIT_OPTION(field, variable, type, default_text, description) \
  add(#field, #variable, #type, default_text, description);
#define LOCKAUDIT_OPTION_RANGE(field, lo, hi)
#include "options.inc"
#undef LOCKAUDIT_OPTION
#undef LOCKAUDIT_OPTION_RANGE
  return out;
}

const std::vector<RunOption>& RunOptions() {
  static const std::vector<RunOption> options = MakeRunOptions();
  return options;
}

std::optional<long long> ParseInt(std::string_view text, long long min, long long max) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

std::string Absolute(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

bool IsReadableFile(const std::string& path) {
  std::error_code ignored;
  return std::filesystem::is_regular_file(path, ignored) && access(path.c_str(), R_OK) == 0;
}

bool AreGlobs(std::string_view text) {
  if (text.empty()) return false;
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    if (comma == start) return false;
    start = comma + 1;
  }
  return true;
}

// "[HOST:]PORT" -> "HOST:PORT" with the default host filled in.
std::optional<std::string> NormalizeHostPort(const std::string& value) {
  const size_t colon = value.rfind(':');
  const std::string host = colon == std::string::npos ? "" : value.substr(0, colon);
  const std::string port = colon == std::string::npos ? value : value.substr(colon + 1);
  if (!ParseInt(port, 0, 65535)) return std::nullopt;  // 0: the exporter picks a free port
  return (host.empty() ? "127.0.0.1" : host) + ":" + port;
}

// The value to export for `value`, or nullopt when `accepts` rejects it.
std::optional<std::string> Validate(Accepts accepts, long long min, long long max,
                                    const std::string& value) {
  switch (accepts) {
    case Accepts::kFlag:
      return "1";
    case Accepts::kPath:
      return value.empty() ? std::nullopt : std::optional(Absolute(value));
    case Accepts::kReadableFile:
      return IsReadableFile(value) ? std::optional(Absolute(value)) : std::nullopt;
    case Accepts::kLog:
      if (value == "stderr" || value == "off") return value;
      return value.empty() ? std::nullopt : std::optional(Absolute(value));
    case Accepts::kInt:
      return ParseInt(value, min, max) ? std::optional(value) : std::nullopt;
    case Accepts::kOnDeadlock:
      return value == "report" || value == "abort" ? std::optional(value) : std::nullopt;
    case Accepts::kGlobs:
      return AreGlobs(value) ? std::optional(value) : std::nullopt;
    case Accepts::kHostPort:
      return NormalizeHostPort(value);
  }
  return std::nullopt;
}

const RunOption* FindOption(std::string_view flag) {
  for (const RunOption& option : RunOptions()) {
    if (option.flag == flag) return &option;
  }
  return nullptr;
}

// Parses the option at args[i] (advancing i past its value) into `request`. False after printing
// one line to `err`.
bool ParseOption(const Args& args, size_t& i, RunRequest& request, std::ostream& err) {
  const std::string& arg = args[i];
  const size_t equals = arg.find('=');
  const std::string flag = arg.substr(0, equals);
  const RunOption* option = FindOption(flag);
  if (option == nullptr) {
    err << "lockaudit: run: unknown option '" << arg << "'; see 'lockaudit run --help'\n";
    return false;
  }
  const bool takes_value = option->accepts != Accepts::kFlag;
  const bool inline_value = equals != std::string::npos;
  if (!takes_value && inline_value) {
    err << "lockaudit: run: " << flag << " takes no value\n";
    return false;
  }
  std::string value;
  if (inline_value) {
    value = arg.substr(equals + 1);
  } else if (takes_value) {
    if (i + 1 == args.size()) {
      err << "lockaudit: run: " << flag << " needs a value: " << option->accepted << "\n";
      return false;
    }
    value = args[++i];
  }
  std::optional<std::string> validated = Validate(option->accepts, option->min, option->max, value);
  if (!validated) {
    err << "lockaudit: run: " << flag << ": '" << value << "' is not accepted; expected "
        << option->accepted << "\n";
    return false;
  }
  request.env[std::string(option->variable)] = *validated;
  return true;
}

}  // namespace

std::optional<std::string> RunRequest::Get(const std::string& variable) const {
  auto it = env.find(variable);
  return it == env.end() ? std::nullopt : std::optional(it->second);
}

std::optional<RunRequest> ParseRunArgs(const Args& args, std::ostream& err) {
  RunRequest request;
  size_t i = 0;
  for (; i < args.size() && args[i].starts_with("-"); ++i) {
    if (args[i] == "--") {
      ++i;
      break;
    }
    if (args[i] == "--help" || args[i] == "-h") {
      request.help = true;
      return request;
    }
    if (args[i] == "-q" || args[i] == "--quiet") {
      request.quiet = true;
      continue;
    }
    if (args[i] == "--confirm") {
      request.confirm = true;
      continue;
    }
    bool confirm_int = false;
    for (auto [flag, min, max] : {std::tuple<const char*, long long, long long>{"--confirm-runs", 1, 1000},
                                  {"--confirm-exitcode", 0, 255}}) {
      size_t at = i;
      if (args[i] != flag && !args[i].starts_with(std::string(flag) + "=")) continue;
      confirm_int = true;
      std::optional<std::string> text = OptionValue(args, at, flag);
      std::optional<long long> value = text ? ParseInt(*text, min, max) : std::nullopt;
      if (!value) {
        err << "lockaudit: run: " << flag << ": expected an integer from " << min << " to " << max
            << "\n";
        return std::nullopt;
      }
      if (std::string_view(flag) == "--confirm-runs") {
        request.confirm_runs = static_cast<int>(*value);
      } else {
        request.confirm_exitcode = static_cast<int>(*value);
      }
      i = at;
    }
    if (confirm_int) continue;
    if (!ParseOption(args, i, request, err)) return std::nullopt;
  }
  request.program.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (request.program.empty()) {
    err << "lockaudit: run: no program given; usage: lockaudit run [options] -- PROGRAM ARGS...\n";
    return std::nullopt;
  }
  return request;
}

std::string RunHelp() {
  std::ostringstream help;
  help << "usage: lockaudit run [options] -- PROGRAM ARGS...\n\n"
          "Runs PROGRAM with the lockaudit shim preloaded (LD_PRELOAD, prepended to any\n"
          "value already set), waits for it, then prints a summary of its report to\n"
          "stderr: findings by kind, the locks of each finding, the engine's counters and\n"
          "where the full report is. Each option sets the LOCKAUDIT_* variable shown\n"
          "below it; other LOCKAUDIT_* variables in the environment are passed on, except\n"
          "LOCKAUDIT_REPORT, which is always set (the summary reads the report).\n\n"
          "options:\n"
          "  -q, --quiet\n"
          "      no summary: only the program's output, the engine's own report (LOCKAUDIT_LOG)\n"
          "      and warnings; the exit status says the same as without it\n"
          "  --confirm\n"
          "      after the run, confirm each lock-order cycle it found by re-running PROGRAM\n"
          "      with a schedule perturbation aimed at it (lockaudit confirm --help)\n"
          "  --confirm-runs N\n"
          "      --confirm: runs per cycle at most (1-1000; default 10)\n"
          "  --confirm-exitcode N\n"
          "      --confirm: exit status N when a cycle was confirmed (0-255)\n";
  for (const RunOption& option : RunOptions()) {
    help << "  " << option.flag << (option.meta.empty() ? "" : " ") << option.meta << "\n"
         << "      " << option.help << "\n"
         << "      " << option.variable
         << (option.accepts == Accepts::kFlag ? "=1" : ": " + std::string(option.accepted)) << "\n";
  }
  help << "\nThe shim is liblockaudit_preload.so in the lib directory of the build or install\n"
          "tree lockaudit runs from, or the file named by LOCKAUDIT_PRELOAD_LIB. Without it\n"
          "PROGRAM runs unaudited, with a warning.\n\n"
          "exit status: PROGRAM's exit status; if signal N killed it, lockaudit ends by\n"
          "signal N too, after the summary (a shell shows 128+N); with\n"
          "--exitcode N, N when the report holds a finding (even if PROGRAM was killed);\n"
          "127 if PROGRAM cannot be started; 2 for a bad option.\n";
  return help.str();
}

}  // namespace lockaudit::cli
