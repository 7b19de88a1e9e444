// lockaudit/cli/run_command: `lockaudit run [options] -- PROGRAM ARGS...` runs a program under
// the shim: exports the LOCKAUDIT_* options and LD_PRELOAD, forks and execs the program, waits,
// then summarizes the JSON Lines report and exits with the program's status (or --exitcode's).
#include <elf.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "confirm_command.h"
#include "process.h"
#include "report_reader.h"
#include "run_options.h"
#include "run_summary.h"

namespace lockaudit::cli {
namespace {

constexpr char kShimName[] = "liblockaudit_preload.so";

// The JSON Lines file the engine writes for this run. A temporary file is deleted with the object.
class ReportFile {
 public:
  ReportFile() = default;
  ReportFile(const ReportFile&) = delete;
  ReportFile& operator=(const ReportFile&) = delete;
  ~ReportFile() {
    if (temporary_) unlink(path_.c_str());
  }

  // Uses `requested` (--report; emptied first so that the summary covers this run only, unless
  // it holds %p) or creates /tmp/lockaudit-XXXXXX.jsonl. False after printing one line.
  bool Open(const std::optional<std::string>& requested, std::ostream& err) {
    if (!requested) return CreateTemporary(err);
    path_ = *requested;
    if (path_.find("%p") != std::string::npos) return true;
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      err << "lockaudit: run: --report: cannot write " << path_ << ": " << std::strerror(errno)
          << "\n";
      return false;
    }
    close(fd);
    return true;
  }

  const std::string& path() const { return path_; }
  bool temporary() const { return temporary_; }

 private:
  bool CreateTemporary(std::ostream& err) {
    std::string name = "/tmp/lockaudit-XXXXXX.jsonl";
    const int fd = mkstemps(name.data(), static_cast<int>(std::strlen(".jsonl")));
    if (fd < 0) {
      err << "lockaudit: run: cannot create a temporary report in /tmp: " << std::strerror(errno)
          << "\n";
      return false;
    }
    close(fd);
    path_ = name;
    temporary_ = true;
    return true;
  }

  std::string path_;
  bool temporary_ = false;
};

}  // namespace

// $LOCKAUDIT_PRELOAD_LIB when set (even empty), else the shim beside this executable's prefix:
// <prefix>/lib in the build tree and most installs, <prefix>/<CMAKE_INSTALL_LIBDIR> otherwise
// (lib/x86_64-linux-gnu under /usr on Debian). Returns the first candidate when none exists.
std::string ShimPath() {
  if (const char* path = std::getenv("LOCKAUDIT_PRELOAD_LIB")) return path;
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const std::filesystem::path prefix = self.parent_path().parent_path();
  const std::filesystem::path in_lib = prefix / "lib" / kShimName;
  const std::filesystem::path in_libdir = prefix / LOCKAUDIT_INSTALL_LIBDIR / kShimName;
  if (!std::filesystem::exists(in_lib, error) && std::filesystem::exists(in_libdir, error)) {
    return in_libdir.lexically_normal().string();
  }
  return in_lib.lexically_normal().string();
}

namespace {

// Prepends the shim to LD_PRELOAD. When there is no usable shim, warns and returns false: the
// program then runs unaudited rather than not at all.
bool PreloadShim(std::ostream& err) {
  const std::string shim = ShimPath();
  std::error_code error;
  if (shim.empty() || !std::filesystem::is_regular_file(shim, error)) {
    err << "lockaudit: warning: shim '" << shim << "' not found; running the program unaudited"
        << " (set LOCKAUDIT_PRELOAD_LIB to the path of " << kShimName << ")\n";
    return false;
  }
  const std::string absolute = std::filesystem::absolute(shim).lexically_normal().string();
  if (absolute.find_first_of(": ") != std::string::npos) {
    err << "lockaudit: warning: shim path '" << absolute << "' holds ':' or ' ', which "
        << "LD_PRELOAD cannot express; running the program unaudited\n";
    return false;
  }
  const char* existing = std::getenv("LD_PRELOAD");
  const std::string value =
      existing != nullptr && *existing != '\0' ? absolute + ":" + existing : absolute;
  setenv("LD_PRELOAD", value.c_str(), 1);
  return true;
}

// The file exec would run for `program` (a path, or looked up in PATH); empty if none.
std::string ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (size_t from = 0; from <= dirs.size();) {
    size_t colon = dirs.find(':', from);
    if (colon == std::string::npos) colon = dirs.size();
    std::string candidate = colon == from ? "." : dirs.substr(from, colon - from);
    candidate += "/";
    candidate += program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    from = colon + 1;
  }
  return "";
}

// An ELF executable without a PT_INTERP program header has no dynamic loader to honour
// LD_PRELOAD (static, also static-pie). Anything else (a script, an unreadable file) is assumed
// dynamic: exec decides.
bool IsStaticallyLinked(const std::string& program) {
  const std::string file = ResolveProgram(program);
  if (file.empty()) return false;
  std::ifstream in(file, std::ios::binary);
  unsigned char ident[EI_NIDENT] = {};
  if (!in.read(reinterpret_cast<char*>(ident), EI_NIDENT) || memcmp(ident, ELFMAG, SELFMAG) != 0 ||
      ident[EI_DATA] != ELFDATA2LSB) {
    return false;
  }
  auto scan = [&in](auto header, auto phdr) {
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(&header), sizeof header)) return false;
    if (header.e_type != ET_EXEC && header.e_type != ET_DYN) return false;
    if (header.e_phentsize != sizeof phdr || header.e_phnum == 0) return false;
    for (int i = 0; i < header.e_phnum; ++i) {
      in.seekg(static_cast<std::streamoff>(header.e_phoff + static_cast<uint64_t>(i) * sizeof phdr));
      if (!in.read(reinterpret_cast<char*>(&phdr), sizeof phdr)) return false;
      if (phdr.p_type == PT_INTERP) return false;
    }
    return true;  // no interpreter
  };
  if (ident[EI_CLASS] == ELFCLASS64) return scan(Elf64_Ehdr{}, Elf64_Phdr{});
  if (ident[EI_CLASS] == ELFCLASS32) return scan(Elf32_Ehdr{}, Elf32_Phdr{});
  return false;
}

void ExportOptions(const RunRequest& request, const std::string& report_path) {
  for (const auto& [variable, value] : request.env) setenv(variable.c_str(), value.c_str(), 1);
  setenv("LOCKAUDIT_REPORT", report_path.c_str(), 1);
  // This run's report starts empty (an outer audited process may have set it); the program's
  // engine sets it again for the processes the program starts.
  unsetenv("LOCKAUDIT_REPORT_APPEND");
}

volatile sig_atomic_t g_child_pid = 0;

extern "C" void ForwardSignal(int signal_number) {
  if (g_child_pid > 0) kill(g_child_pid, signal_number);
}

// While the program runs, lockaudit outlives it to print the summary: terminal signals reach the
// program through its process group, so lockaudit ignores them; SIGTERM and SIGHUP sent to
// lockaudit alone are passed on to the program.
void ShieldFromSignals(pid_t child) {
  g_child_pid = child;
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  struct sigaction forward = {};
  forward.sa_handler = ForwardSignal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
}

// `path` with every "%p" replaced by `pid`, as the engine names its report.
std::string ExpandPid(std::string path, pid_t pid) {
  const std::string pid_text = std::to_string(pid);
  for (size_t at = path.find("%p"); at != std::string::npos; at = path.find("%p", at)) {
    path.replace(at, 2, pid_text);
    at += pid_text.size();
  }
  return path;
}

std::optional<std::string> EnvValue(const char* variable) {
  const char* value = std::getenv(variable);
  return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
}

std::optional<int> ExitCodeOption(const RunRequest& request) {
  const std::optional<std::string> value = request.Get("LOCKAUDIT_EXITCODE");
  return value ? std::optional(std::stoi(*value)) : std::nullopt;
}

// Reads the report of the finished program, prints the summary, returns lockaudit's exit status.
int Summarize(const RunRequest& request, const ReportFile& report_file, pid_t pid,
              ProcessExit exit, bool audited, bool statically_linked, time_t started) {
  const RunContext context{.program = request.program.front(),
                           .pid = pid,
                           .exit = exit,
                           .report_path = ExpandPid(report_file.path(), pid),
                           .report_kept = !report_file.temporary(),
                           .log = EnvValue("LOCKAUDIT_LOG"),
                           .exitcode = ExitCodeOption(request),
                           .audited = audited,
                           .statically_linked = statically_linked,
                           .disabled = EnvValue("LOCKAUDIT_DISABLE") == std::optional<std::string>("1"),
                           .count_ordered = request.Get("LOCKAUDIT_COUNT_ORDERED").has_value() ||
                                            EnvValue("LOCKAUDIT_COUNT_ORDERED") ==
                                                std::optional<std::string>("1")};
  std::optional<Report> report = ReadReport(context.report_path, std::cerr);
  // With %p every process wrote its own file: the others of this run are read too.
  const std::string& tmpl = report_file.path();
  if (tmpl.find("%p") != std::string::npos) {
    std::string pattern = tmpl;
    for (size_t at = pattern.find("%p"); at != std::string::npos; at = pattern.find("%p", at)) {
      pattern.replace(at, 2, "[0-9]*");
    }
    glob_t found{};
    if (glob(pattern.c_str(), 0, nullptr, &found) == 0) {
      for (size_t i = 0; i < found.gl_pathc; ++i) {
        const std::string other = found.gl_pathv[i];
        struct stat st {};
        if (other == context.report_path || stat(other.c_str(), &st) != 0 ||
            st.st_mtime < started) {
          continue;  // the program's own file, or one from an earlier run
        }
        std::optional<Report> more = ReadReport(other, std::cerr);
        if (!more) continue;
        if (!report) report = Report{.path = context.report_path};
        report->findings.insert(report->findings.end(), more->findings.begin(),
                                more->findings.end());
        report->edges.insert(report->edges.end(), more->edges.begin(), more->edges.end());
        report->summaries.insert(report->summaries.end(), more->summaries.begin(),
                                 more->summaries.end());
      }
    }
    globfree(&found);
  }
  if (!request.quiet) PrintRunSummary(report ? &*report : nullptr, context, std::cerr);
  return RunExitStatus(context, report ? CountFindings(*report, context.count_ordered) : 0);
}

// --report, else LOCKAUDIT_REPORT from the environment (when not empty), else none (a
// temporary file).
std::optional<std::string> RequestedReport(const RunRequest& request) {
  if (std::optional<std::string> flag = request.Get("LOCKAUDIT_REPORT")) return flag;
  const char* env = std::getenv("LOCKAUDIT_REPORT");
  if (env == nullptr || *env == '\0') return std::nullopt;
  return std::string(env);
}

// Ends lockaudit by the signal that ended the program (valgrind does the same), so that whoever
// runs it sees the crash; no core file of lockaudit's own (the program wrote its own, if any).
void ReRaise(int signal_number) {
  std::cerr.flush();
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(signal_number, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal_number);
  sigprocmask(SIG_UNBLOCK, &only, nullptr);
  raise(signal_number);  // returns only for a signal whose default is not to end the process
}

}  // namespace

int RunMain(const Args& args) {
  const std::optional<RunRequest> request = ParseRunArgs(args, std::cerr);
  if (!request) return 2;
  if (request->help) {
    std::cout << RunHelp();
    return 0;
  }
  ReportFile report_file;
  if (!report_file.Open(RequestedReport(*request), std::cerr)) return 2;
  ExportOptions(*request, report_file.path());
  const bool audited = PreloadShim(std::cerr);
  // A static program runs anyway (the processes it starts may be dynamic and audited), but the
  // user hears at once why its own locks are not.
  const bool statically_linked = IsStaticallyLinked(request->program.front());
  if (statically_linked) {
    std::cerr << "lockaudit: warning: '" << request->program.front()
              << "' is statically linked: the shim cannot be attached to it (LD_PRELOAD needs a "
                 "dynamically linked program); its locks are not audited\n";
  }
  const time_t started = time(nullptr);
  const SpawnResult child = Spawn(request->program);
  if (child.pid < 0) {
    std::cerr << "lockaudit: run: cannot execute '" << request->program.front()
              << "': " << std::strerror(child.error) << "\n";
    return 127;
  }
  ShieldFromSignals(child.pid);
  const ProcessExit exit = WaitForExit(child.pid);
  int status =
      Summarize(*request, report_file, child.pid, exit, audited, statically_linked, started);
  if (request->confirm && audited) {
    ConfirmSettings settings;
    settings.runs = request->confirm_runs;
    const ConfirmOutcome outcome = ConfirmCycles(
        settings, ExpandPid(report_file.path(), child.pid), request->program, std::cerr);
    if (outcome.confirmed > 0 && request->confirm_exitcode) return *request->confirm_exitcode;
  }
  if (exit.signal != 0 && status == exit.status) ReRaise(exit.signal);
  return status;
}

}  // namespace lockaudit::cli
