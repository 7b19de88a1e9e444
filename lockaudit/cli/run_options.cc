// lockaudit/cli/run_options: the option table of `lockaudit run`, its parser and its validators.
#include "run_options.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <sstream>
#include <string_view>

namespace lockaudit::cli {
namespace {

// What an option's value must look like.
enum class Accepts {
  kFlag,          // no value; sets the variable to 1
  kPath,          // any file path; made absolute
  kReadableFile,  // an existing, readable file; made absolute
  kLog,           // stderr, off, or a path (made absolute)
  kExitCode,      // 0-255
  kPositiveInt,   // 1-2147483647
  kOnDeadlock,    // report or abort
  kGlobs,         // comma-separated non-empty globs
  kHostPort,      // [HOST:]PORT; the host defaults to 127.0.0.1
};

struct RunOption {
  std::string_view flag;
  std::string_view variable;
  std::string_view meta;      // value placeholder in --help; empty for a flag
  std::string_view accepted;  // what a bad value is told to be instead
  std::string_view help;
  Accepts accepts;
};

constexpr RunOption kRunOptions[] = {
    {"--report", "LOCKAUDIT_REPORT", "FILE", "a file path (%p expands to the pid)",
     "JSON Lines report to keep, emptied first (default: a temporary file)",
     Accepts::kPath},
    {"--exitcode", "LOCKAUDIT_EXITCODE", "N", "an integer from 0 to 255",
     "exit with N when the report holds any finding", Accepts::kExitCode},
    {"--hierarchy", "LOCKAUDIT_HIERARCHY", "FILE", "a readable file",
     "lock levels, '<lock name> <level>' per line", Accepts::kReadableFile},
    {"--suppressions", "LOCKAUDIT_SUPPRESSIONS", "FILE", "a readable file",
     "suppressions, '<kind>:<pattern>' per line (docs/suppressions.md)",
     Accepts::kReadableFile},
    {"--log", "LOCKAUDIT_LOG", "stderr|off|PATH", "stderr, off or a file path",
     "where the text report goes (default: stderr)", Accepts::kLog},
    {"--stall-ms", "LOCKAUDIT_STALL_MS", "N", "a positive integer (milliseconds)",
     "wait/hold stall threshold (default: 1000)", Accepts::kPositiveInt},
    {"--on-deadlock", "LOCKAUDIT_ON_DEADLOCK", "report|abort", "report or abort",
     "on an actual deadlock: report, or report and abort (default: report)",
     Accepts::kOnDeadlock},
    {"--nonblocking-threads", "LOCKAUDIT_NONBLOCKING_THREADS", "GLOBS",
     "comma-separated globs on thread names", "threads that must never block on a lock",
     Accepts::kGlobs},
    {"--prometheus", "LOCKAUDIT_PROMETHEUS", "[HOST:]PORT", "[HOST:]PORT with PORT from 0 to 65535",
     "serve /metrics there (host default: 127.0.0.1; port 0: any free port, logged)",
     Accepts::kHostPort},
    {"--disable", "LOCKAUDIT_DISABLE", "", "",
     "load the shim but pass every call straight through", Accepts::kFlag},
};

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
std::optional<std::string> Validate(Accepts accepts, const std::string& value) {
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
    case Accepts::kExitCode:
      return ParseInt(value, 0, 255) ? std::optional(value) : std::nullopt;
    case Accepts::kPositiveInt:
      return ParseInt(value, 1, 2147483647) ? std::optional(value) : std::nullopt;
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
  for (const RunOption& option : kRunOptions) {
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
  std::optional<std::string> validated = Validate(option->accepts, value);
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
          "options:\n";
  for (const RunOption& option : kRunOptions) {
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
