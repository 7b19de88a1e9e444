// lockaudit/cli/confirm_command: `lockaudit confirm [options] REPORT.jsonl -- PROGRAM ARGS...`.
#include "confirm_command.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "process.h"
#include "config_file.h"
#include "report_reader.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kConfirmHelp = R"(usage: lockaudit confirm [options] REPORT.jsonl -- PROGRAM ARGS...

For each lock-order cycle (potential deadlock) in REPORT, re-runs PROGRAM under
the shim with a schedule perturbation aimed at that cycle: a thread about to
take an edge's second lock at the edge's recorded site, while holding a lock it
took at the edge's first site, pauses until the paused threads hold and want
the cycle's locks (they are then released together and deadlock), or until the
pause times out. An actual deadlock in such a run confirms the cycle: the run
is aborted with the deadlock report (LOCKAUDIT_ON_DEADLOCK=abort). Pauses only
change timing; each is bounded. Sites are matched by module and ELF address,
so ASLR does not matter; the program must be the same build that wrote REPORT.

Results go to stdout; one "confirm" line per cycle is appended to REPORT
(lockaudit report shows them). Cycles marked "ordered" (thread creation and
join keep their edges apart) are not run: they cannot deadlock as observed.

options:
  --runs N        runs per cycle at most, stopping at the first deadlock (1-1000;
                  default 10)
  --timeout S     seconds per run before its process group is killed (1-86400;
                  default 60)
  --pause-ms MS   longest pause at an edge in the first two runs, doubled, then
                  tripled, then quadrupled in later pairs of runs (1-60000;
                  default 500)
  --show-output   let the confirm runs' stdout and stderr through (default: to
                  /dev/null)

exit status: 0 no cycle confirmed (or none in REPORT); 1 a cycle confirmed;
2 a usage error, REPORT cannot be read or written, or PROGRAM cannot be run.
)";

std::optional<int> IntValue(const std::string& text, int min, int max) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

// The program's process group while a confirm run is in flight: ended with it if lockaudit is
// interrupted, so that no program outlives the command.
volatile sig_atomic_t g_group = 0;
// The temporary plan and run report of the cycle in progress, removed if lockaudit is interrupted.
char g_plan_path[64] = "";
char g_run_report_path[64] = "";

extern "C" void KillGroupAndExit(int signal_number) {
  if (g_group > 0) kill(-g_group, SIGKILL);
  if (g_plan_path[0] != '\0') unlink(g_plan_path);
  if (g_run_report_path[0] != '\0') unlink(g_run_report_path);
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

std::string BaseName(const std::string& lock_name) { return core::NameWithoutOrdinal(lock_name); }

// A site of the plan: the first frame of `stack` with a module and an ELF address.
std::optional<std::string> PlanSite(const Stack& stack) {
  for (const Frame& frame : stack) {
    if (!frame.module.empty() && frame.module != "?" && !frame.offset.empty() &&
        frame.module.find_first_of("\t\n ") == std::string::npos) {
      return frame.module + "\t" + frame.offset;
    }
  }
  return std::nullopt;
}

struct RunResult {
  bool deadlocked = false;      // a deadlock of the cycle's locks
  bool other_deadlock = false;  // a deadlock of other locks
  bool timed_out = false;
  bool exec_failed = false;
  std::string deadlock;             // the deadlock finding's line
  std::vector<std::string> pauses;  // the pause lines
  int lined_up = 0, timed_out_pauses = 0;
};

// Starts PROGRAM in its own process group with `env` added (stdin from /dev/null: a background
// group must not read the terminal; output too unless --show-output; no core file), waits at
// most `timeout_s`, then kills whatever is left of the group. False when it could not be started.
bool RunOnce(const std::vector<std::string>& program,
             const std::vector<std::pair<std::string, std::string>>& env,
             const ConfirmSettings& settings, bool* timed_out, int* exec_error) {
  const SpawnResult child = Spawn(program, SpawnOptions{.null_stdin = true,
                                                        .null_output = !settings.show_output,
                                                        .own_process_group = true,
                                                        .no_core = true,
                                                        .env = env});
  if (child.pid < 0) {
    *exec_error = child.error;
    return false;
  }
  const pid_t pid = child.pid;
  g_group = pid;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  *timed_out = false;
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG | WUNTRACED);
    if (done == pid && WIFSTOPPED(status)) {
      kill(-pid, SIGCONT);  // stopped by the terminal (SIGTTOU with --show-output): go on
      continue;
    }
    if (done == pid || (done < 0 && errno != EINTR)) break;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int64_t elapsed_ns = (int64_t{now.tv_sec} - start.tv_sec) * 1'000'000'000 +
                               (now.tv_nsec - start.tv_nsec);
    if (elapsed_ns >= int64_t{settings.timeout_s} * 1'000'000'000) {
      *timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    const timespec tick{0, 10'000'000};
    nanosleep(&tick, nullptr);
  }
  kill(-pid, SIGKILL);  // processes the program started and left behind
  g_group = 0;
  return true;
}

// Reads a confirm run's report: its deadlock (if any, and whether it is the cycle's) and pauses.
void ReadRun(const std::string& path, const std::multiset<std::string>& cycle_locks,
             RunResult& r) {
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text)) {
    json line;
    try {
      line = json::parse(text);
    } catch (const json::exception&) {
      continue;  // a line cut short when the run was killed
    }
    if (!line.is_object()) continue;
    const std::string type = line.value("type", "");
    if (type == "pause") {
      r.pauses.push_back(text);
      (line.value("outcome", "") == "lined_up" ? r.lined_up : r.timed_out_pauses)++;
      continue;
    }
    if (type != "finding" || line.value("kind", "") != kDeadlock) continue;
    // Ours: its locks are the cycle's, all of them (names without the #k ordinal, counted).
    std::multiset<std::string> names;
    if (line.contains("locks") && line["locks"].is_array()) {
      for (const json& lock : line["locks"]) {
        names.insert(lock.is_object() && lock.contains("name") && lock["name"].is_string()
                         ? BaseName(lock["name"].get<std::string>())
                         : "");
      }
    }
    const bool ours = names.size() >= 2 && names == cycle_locks;
    if (ours && !r.deadlocked) {
      r.deadlocked = true;
      r.deadlock = text;
    } else if (!ours) {
      r.other_deadlock = true;
    }
  }
}

std::string TempPath(const char* suffix) {
  std::string name = std::string("/tmp/lockaudit-confirm-XXXXXX") + suffix;
  const int fd = mkstemps(name.data(), static_cast<int>(strlen(suffix)));
  if (fd < 0) return "";
  close(fd);
  return name;
}

// Confirms one cycle: its plan, up to settings.runs runs. The "confirm" line's object.
json ConfirmOne(const Finding& cycle, const ConfirmSettings& settings,
                const std::vector<std::string>& program, const std::string& shim,
                bool* exec_failed) {
  const std::vector<std::string> names = FindingLockNames(cycle);
  json record = {{"type", "confirm"}, {"cycle", cycle.message}, {"locks", names}};
  if (cycle.pid) record["pid"] = *cycle.pid;
  auto not_reproduced = [&record](int runs, const std::string& reason) {
    record["result"] = "not_reproduced";
    record["runs"] = runs;
    if (!reason.empty()) record["reason"] = reason;
    return record;
  };
  if (cycle.ordered) {
    return not_reproduced(0, "ordered: " + cycle.ordered_reason +
                                 "; thread creation and join keep its edges apart, so it cannot "
                                 "deadlock as observed");
  }
  std::string edges;
  for (const FindingEdge& edge : cycle.edges) {
    const std::optional<std::string> from = PlanSite(edge.held_stack);
    const std::optional<std::string> to = PlanSite(edge.stack);
    if (!from || !to) {
      return not_reproduced(0, "an edge has no site with a module and an ELF address (a report "
                               "of an older lockaudit, or frames without a module)");
    }
    edges += "edge\t" + *from + "\t" + *to + "\n";
  }
  if (cycle.edges.size() < 2) return not_reproduced(0, "the cycle lists fewer than two edges");
  std::multiset<std::string> cycle_locks;
  for (const std::string& name : names) cycle_locks.insert(BaseName(name));
  const std::string plan_path = TempPath(".plan");
  const std::string run_report = TempPath(".jsonl");
  if (plan_path.empty() || run_report.empty()) {
    std::cerr << "lockaudit: confirm: cannot create temporary files in /tmp: " << strerror(errno) << "\n";
    return not_reproduced(0, "no temporary files");
  }
  snprintf(g_plan_path, sizeof g_plan_path, "%s", plan_path.c_str());
  snprintf(g_run_report_path, sizeof g_run_report_path, "%s", run_report.c_str());
  const char* preload = getenv("LD_PRELOAD");
  const std::string ld_preload =
      shim + (preload != nullptr && *preload != '\0' ? ":" + std::string(preload) : "");
  int runs = 0;
  int lined_up_runs = 0, other_deadlocks = 0, timeouts = 0, pauses = 0;
  for (int run = 1; run <= settings.runs; ++run) {
    runs = run;
    const int scale = std::min((run + 1) / 2, 4);  // runs 1-2: pause_ms, 3-4: twice, ...
    {
      std::ofstream plan(plan_path, std::ios::trunc);
      plan << "lockaudit-confirm 1\nrun " << run << "\npause_ms " << settings.pause_ms * scale
           << "\nmax_timeouts 4\n" << edges;
    }
    { std::ofstream truncate(run_report, std::ios::trunc); }
    const std::vector<std::pair<std::string, std::string>> env = {
        {"LD_PRELOAD", ld_preload},
        {"LOCKAUDIT_CONFIRM", plan_path},
        {"LOCKAUDIT_REPORT", run_report},
        {"LOCKAUDIT_REPORT_APPEND", ""},
        {"LOCKAUDIT_LOG", "off"},
        {"LOCKAUDIT_ON_DEADLOCK", "abort"},
        {"LOCKAUDIT_STALL_MS", "300"},
        {"LOCKAUDIT_EXITCODE", ""},
        {"LOCKAUDIT_PROMETHEUS", ""},
        {"LOCKAUDIT_DISABLE", ""},
    };
    bool timed_out = false;
    int exec_error = 0;
    if (!RunOnce(program, env, settings, &timed_out, &exec_error)) {
      std::cerr << "lockaudit: confirm: cannot execute '" << program.front()
                << "': " << strerror(exec_error) << "\n";
      *exec_failed = true;
      unlink(plan_path.c_str());
      unlink(run_report.c_str());
      g_plan_path[0] = g_run_report_path[0] = '\0';
      return not_reproduced(0, std::string("cannot execute the program: ") + strerror(exec_error));
    }
    RunResult r;
    ReadRun(run_report, cycle_locks, r);
    lined_up_runs += r.lined_up > 0;
    pauses += r.lined_up + r.timed_out_pauses;
    other_deadlocks += r.other_deadlock;
    timeouts += timed_out;
    if (r.deadlocked) {
      record["result"] = "confirmed";
      record["runs"] = run;
      record["run"] = run;
      record["pauses"] = json::array();
      for (const std::string& pause : r.pauses) record["pauses"].push_back(json::parse(pause));
      record["deadlock"] = json::parse(r.deadlock);
      break;
    }
  }
  unlink(plan_path.c_str());
  unlink(run_report.c_str());
  g_plan_path[0] = g_run_report_path[0] = '\0';
  if (record.contains("result")) return record;
  std::string reason;
  if (pauses == 0) {
    reason = "no thread paused: in no run did a thread reach an edge's second site, holding a "
             "lock it took at the edge's first site, while the process had another thread";
    if (cycle.single_thread) {
      reason += " (every edge was seen in one thread, and a thread cannot deadlock with itself: "
                "the cycle needs another thread running the same code)";
    }
  } else if (lined_up_runs == 0) {
    reason = "the threads never reached the cycle's sites at the same time (" +
             std::to_string(pauses) + " pause(s), every one timed out)";
  } else {
    reason = "the threads lined up in " + std::to_string(lined_up_runs) +
             " run(s) but no deadlock followed";
  }
  if (other_deadlocks > 0) {
    reason += "; " + std::to_string(other_deadlocks) + " run(s) deadlocked on other locks";
  }
  if (timeouts > 0) {
    reason += "; " + std::to_string(timeouts) + " run(s) passed --timeout and were killed";
  }
  return not_reproduced(runs, reason);
}

// Reads `line` back as the CLI's model (for the text rendering).
ConfirmRecord AsRecord(const json& line) {
  std::istringstream in(line.dump());
  std::ostringstream ignored;
  std::optional<Report> parsed = ReadReportStream(in, "confirm", ignored);
  return parsed && !parsed->confirms.empty() ? parsed->confirms.front() : ConfirmRecord{};
}

}  // namespace

ConfirmOutcome ConfirmCycles(const ConfirmSettings& settings, const std::string& report_path,
                             const std::vector<std::string>& program, std::ostream& out) {
  ConfirmOutcome outcome;
  std::optional<Report> report = ReadReport(report_path, std::cerr);
  if (!report) {
    outcome.ok = false;
    return outcome;
  }
  std::vector<const Finding*> cycles;
  std::set<std::pair<int64_t, std::string>> seen;
  for (const Finding& finding : report->findings) {
    if (finding.kind != kLockOrderCycle) continue;
    if (!seen.insert({finding.pid.value_or(0), finding.message}).second) continue;
    cycles.push_back(&finding);
  }
  outcome.cycles = static_cast<int>(cycles.size());
  if (cycles.empty()) {
    out << "lockaudit: confirm: no lock-order cycle in " << report_path << "; nothing to confirm\n";
    return outcome;
  }
  const std::string shim = ShimPath();
  std::error_code error;
  if (shim.empty() || !std::filesystem::is_regular_file(shim, error)) {
    std::cerr << "lockaudit: confirm: shim '" << shim << "' not found (set LOCKAUDIT_PRELOAD_LIB)\n";
    outcome.ok = false;
    return outcome;
  }
  signal(SIGINT, KillGroupAndExit);
  signal(SIGTERM, KillGroupAndExit);
  signal(SIGHUP, KillGroupAndExit);
  std::ofstream append(report_path, std::ios::app);
  for (size_t i = 0; i < cycles.size(); ++i) {
    out << "lockaudit: confirm: cycle " << i + 1 << " of " << cycles.size();
    if (cycles[i]->pid) out << " (pid " << *cycles[i]->pid << ")";
    out << ": " << cycles[i]->message << "\n";
    out.flush();
    bool exec_failed = false;
    const json record = ConfirmOne(*cycles[i], settings, program, shim, &exec_failed);
    if (exec_failed) {
      outcome.ok = false;  // no cycle can be confirmed with a program that does not start
      break;
    }
    if (record.value("result", "") == "confirmed") ++outcome.confirmed;
    append << record.dump() << "\n";
    RenderConfirm(AsRecord(record), out);
  }
  append.flush();
  if (!append) {
    out << "lockaudit: confirm: cannot append the results to " << report_path << "\n";
    outcome.ok = false;
  }
  out << "lockaudit: confirm: " << outcome.confirmed << " of " << CountOf(outcome.cycles, "cycle")
      << " confirmed\n";
  return outcome;
}

int ConfirmMain(const Args& args) {
  if (WantsHelp(args)) {
    std::cout << kConfirmHelp;
    return 0;
  }
  ConfirmSettings settings;
  std::optional<std::string> report_path;
  size_t i = 0;
  auto usage = [](const std::string& why) {
    std::cerr << "lockaudit: confirm: " << why << "; see 'lockaudit confirm --help'\n";
    return 2;
  };
  for (; i < args.size() && args[i] != "--"; ++i) {
    const std::string& arg = args[i];
    struct IntFlag {
      const char* flag;
      int* value;
      int min, max;
    };
    bool matched = false;
    for (const IntFlag& f : {IntFlag{"--runs", &settings.runs, 1, 1000},
                             IntFlag{"--timeout", &settings.timeout_s, 1, 86400},
                             IntFlag{"--pause-ms", &settings.pause_ms, 1, 60000}}) {
      if (arg != f.flag && !arg.starts_with(std::string(f.flag) + "=")) continue;
      matched = true;
      size_t at = i;
      std::optional<std::string> text = OptionValue(args, at, f.flag);
      if (!text) return usage(std::string(f.flag) + " needs a value");
      std::optional<int> v = IntValue(*text, f.min, f.max);
      if (!v) {
        return usage(std::string(f.flag) + ": '" + *text + "' is not an integer from " +
                     std::to_string(f.min) + " to " + std::to_string(f.max));
      }
      *f.value = *v;
      i = at;
    }
    if (matched) continue;
    if (arg == "--show-output") {
      settings.show_output = true;
    } else if (arg.starts_with("-")) {
      return usage("unknown option '" + arg + "'");
    } else if (report_path) {
      return usage("one report file expected before '--', got '" + *report_path + "' and '" +
                   arg + "'");
    } else {
      report_path = arg;
    }
  }
  if (!report_path) return usage("no report file given");
  if (i == args.size() || i + 1 == args.size()) {
    return usage("no program given after '--'");
  }
  const std::vector<std::string> program(args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                         args.end());
  const ConfirmOutcome outcome = ConfirmCycles(settings, *report_path, program, std::cout);
  if (!outcome.ok) return 2;
  return outcome.confirmed > 0 ? 1 : 0;
}

}  // namespace lockaudit::cli
