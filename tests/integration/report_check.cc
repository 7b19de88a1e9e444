// report_check: validates a lockaudit JSON Lines report against DESIGN.md §5 and asserts on
// what it found. The integration tests run it (through run_under_shim.sh) after a program ran
// under the shim; it never runs under the shim itself.
//
// Usage: report_check FILE.jsonl [--expect KIND=N]... [--expect-total N] [--edges N]
//                    [--single-thread true|false] [--lock-name NAME]...
//                    [--summary-min FIELD=N]... [--summary-max FIELD=N]...
//
// Always checked (the format contract):
//   * every line is a JSON object with a string "type"; types other than "finding" and
//     "summary" are skipped, as readers must;
//   * a finding has a known "kind", a non-empty "message", a positive integer "pid" and an
//     RFC 3339 UTC "time"; "locks", "threads", "stack" and "single_thread", where present, are
//     well formed; every stack frame has a "pc" ("0x..."), and "function"/"file"/"line"/"module"
//     have the right types where present;
//   * a lock_order_cycle has "locks", "single_thread" and "edges"; every edge has integer
//     "from"/"to" naming locks of the finding, a "thread" with a "tid", and non-empty "stack" and
//     "held_stack" arrays; the edges form one simple cycle;
//   * exactly one summary line, the last line, with non-negative integers findings, suppressed,
//     locks, edges, acquisitions, contentions; its "findings" equals the number of finding lines
//     plus, for each "finding_group" line (findings of one code path beyond the examples
//     written), its "count" less its "shown";
// Asserted on request:
//   --expect KIND=N         exactly N findings of KIND (repeatable)
//   --expect-total N        exactly N findings in all
//   --edges N               every lock_order_cycle has exactly N edges
//   --implied-edges N       every lock_order_cycle has exactly N edges with "implied": true
//   --single-thread B       every lock_order_cycle has "single_thread": B (at least one must exist)
//   --lock-name NAME        some finding's "locks" has a lock named exactly NAME (repeatable)
//   --summary-min F=N       summary field F >= N (repeatable); --summary-max F=N: F <= N
//   --group KIND=N          a finding_group line of KIND with "count" N (repeatable)
//   --no-summary true       the program was killed or aborted: there must be NO summary line
//   --frame-file FILE       every finding has a frame of source file FILE (basename) with a line
//   --deadlock-threads N    every deadlock finding names exactly N threads and has N edges,
//                           each with a non-empty "stack" (where that thread blocked)
//
// Every problem is printed as "report_check: FILE:LINE: ..." on stderr.
// Exit status: 0 every check passed, 1 at least one failed, 2 bad usage or unreadable file.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nlohmann::json;

// DESIGN.md §5.
constexpr std::array<std::string_view, 21> kKinds = {
    "lock_order_cycle", "hierarchy_violation", "deadlock",          "double_lock",
    "unlock_not_held",  "destroy_held",        "thread_exit_holding", "cond_mutex_mismatch",
    "wait_stall",       "hold_stall",          "blocking_in_nonblocking", "gpu_sync_under_lock",
    "wake_budget", "misaligned_lock", "blocking_under_lock", "lock_churn", "rwlock_as_mutex", "lock_false_sharing",
    "send_on_closed", "channel_stall", "channel_leak"};
constexpr std::array<std::string_view, 8> kSummaryFields = {
    "findings", "suppressed", "locks", "edges", "acquisitions", "contentions", "channels",
    "channel_items"};
constexpr int kMaxPrintedProblems = 50;

bool IsKind(std::string_view kind) {
  return std::find(kKinds.begin(), kKinds.end(), kind) != kKinds.end();
}

bool IsSummaryField(std::string_view field) {
  return std::find(kSummaryFields.begin(), kSummaryFields.end(), field) != kSummaryFields.end();
}

struct Options {
  std::string path;
  std::map<std::string, std::int64_t> expect;  // kind -> exact count
  std::map<std::string, std::int64_t> groups;  // kind -> finding_group count
  std::optional<std::int64_t> expect_total;
  std::optional<std::int64_t> edges;
  std::optional<std::int64_t> implied_edges;
  std::optional<bool> single_thread;
  std::vector<std::string> lock_names;
  // Every finding names a frame of this source file (basename) with a line: "with file:line of
  // the program".
  std::optional<std::string> frame_file;
  std::map<std::string, std::int64_t> summary_min;
  std::map<std::string, std::int64_t> summary_max;
  bool no_summary = false;
  std::optional<std::int64_t> deadlock_threads;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "report_check: " << why << "\n"
            << "usage: report_check FILE.jsonl [--expect KIND=N]... [--expect-total N] [--edges N]\n"
            << "                    [--implied-edges N] [--single-thread true|false] [--lock-name NAME]...\n"
            << "                    [--summary-min FIELD=N]... [--summary-max FIELD=N]...\n"
            << "                    [--no-summary true] [--deadlock-threads N] [--frame-file FILE]\n";
  std::exit(2);
}

std::int64_t ParseCount(const std::string& option, const std::string& text) {
  std::size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(text, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < 0) {
    Usage(option + ": '" + text + "' is not a non-negative integer");
  }
  return value;
}

// Splits "NAME=N" for an option.
std::pair<std::string, std::int64_t> ParseAssignment(const std::string& option,
                                                     const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) Usage(option + ": expected NAME=N, got '" + text + "'");
  return {text.substr(0, eq), ParseCount(option, text.substr(eq + 1))};
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) Usage("missing FILE.jsonl");
  options.path = args[0];
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& option = args[i];
    if (i + 1 >= args.size()) Usage(option + ": missing value");
    const std::string& value = args[++i];
    if (option == "--expect") {
      auto [kind, count] = ParseAssignment(option, value);
      if (!IsKind(kind)) Usage("--expect: unknown kind '" + kind + "'");
      options.expect[kind] = count;
    } else if (option == "--expect-total") {
      options.expect_total = ParseCount(option, value);
    } else if (option == "--group") {
      auto [kind, count] = ParseAssignment(option, value);
      if (!IsKind(kind)) Usage("--group: unknown kind '" + kind + "'");
      options.groups[kind] = count;
    } else if (option == "--edges") {
      options.edges = ParseCount(option, value);
    } else if (option == "--implied-edges") {
      options.implied_edges = ParseCount(option, value);
    } else if (option == "--single-thread") {
      if (value != "true" && value != "false") Usage("--single-thread: expected true or false");
      options.single_thread = value == "true";
    } else if (option == "--frame-file") {
      options.frame_file = value;
    } else if (option == "--lock-name") {
      options.lock_names.push_back(value);
    } else if (option == "--summary-min" || option == "--summary-max") {
      auto [field, bound] = ParseAssignment(option, value);
      if (!IsSummaryField(field)) Usage(option + ": unknown summary field '" + field + "'");
      (option == "--summary-min" ? options.summary_min : options.summary_max)[field] = bound;
    } else if (option == "--no-summary") {
      if (value != "true") Usage("--no-summary: expected true");
      options.no_summary = true;
    } else if (option == "--deadlock-threads") {
      options.deadlock_threads = ParseCount(option, value);
    } else {
      Usage("unknown option '" + option + "'");
    }
  }
  return options;
}

class ReportChecker {
 public:
  explicit ReportChecker(Options options) : options_(std::move(options)) {}

  int Run() {
    std::ifstream in(options_.path);
    if (!in) {
      std::cerr << "report_check: cannot open report '" << options_.path << "'\n";
      return 2;
    }
    std::string text;
    std::size_t line_count = 0;
    std::size_t summary_line = 0;
    while (std::getline(in, text)) {
      ++line_count;
      line_ = line_count;
      CheckLine(text, &summary_line);
    }
    line_ = 0;
    if (line_count == 0) Fail("the report is empty");
    if (options_.no_summary) {
      if (summaries_ != 0) Fail("expected no summary line (the program was killed), found one");
    } else if (summaries_ == 0) {
      Fail("no summary line");
    } else if (summaries_ > 1) {
      Fail("expected exactly one summary line, found " + std::to_string(summaries_));
    } else if (summary_line != line_count) {
      Fail("the summary (line " + std::to_string(summary_line) + ") is not the last line (" +
           std::to_string(line_count) + ")");
    }
    CheckExpectations();
    if (problems_ > kMaxPrintedProblems) {
      std::cerr << "report_check: ... " << problems_ - kMaxPrintedProblems << " more problems\n";
    }
    if (problems_ == 0) {
      std::cout << "report_check: OK: " << options_.path << ": " << total_findings_
                << " finding(s)" << DescribeCounts() << "\n";
      return 0;
    }
    std::cerr << "report_check: FAILED: " << options_.path << ": " << problems_ << " problem(s); "
              << total_findings_ << " finding(s)" << DescribeCounts() << "\n";
    return 1;
  }

 private:
  void Fail(const std::string& what) {
    if (++problems_ > kMaxPrintedProblems) return;
    std::cerr << "report_check: " << options_.path;
    if (line_ != 0) std::cerr << ":" << line_;
    std::cerr << ": " << what << "\n";
  }

  std::string DescribeCounts() const {
    std::string out;
    for (const auto& [kind, count] : counts_) {
      out += (out.empty() ? " (" : ", ") + kind + "=" + std::to_string(count);
    }
    return out.empty() ? out : out + ")";
  }

  void CheckLine(const std::string& text, std::size_t* summary_line) {
    json line;
    try {
      line = json::parse(text);
    } catch (const json::parse_error& e) {
      Fail(std::string("not valid JSON: ") + e.what());
      return;
    }
    if (!line.is_object()) {
      Fail("not a JSON object");
      return;
    }
    const auto type = line.find("type");
    if (type == line.end() || !type->is_string()) {
      Fail("no string \"type\"");
      return;
    }
    if (*type == "finding") {
      CheckFinding(line);
    } else if (*type == "summary") {
      ++summaries_;
      *summary_line = line_;
      CheckSummary(line);
    } else if (*type == "finding_group") {
      CheckGroup(line);
    }
    // Any other type (e.g. "edge") is skipped, as DESIGN.md §5 tells readers to.
  }

  // A non-negative (or, with positive, > 0) integer member; reports and returns nullopt otherwise.
  std::optional<std::int64_t> RequireInteger(const json& object, const char* key,
                                             const std::string& where, bool positive = false) {
    const auto it = object.find(key);
    if (it == object.end()) {
      Fail(where + ": missing \"" + key + "\"");
      return std::nullopt;
    }
    if (!it->is_number_integer() || it->get<std::int64_t>() < (positive ? 1 : 0)) {
      Fail(where + ": \"" + key + "\" is not a " + (positive ? "positive" : "non-negative") +
           " integer: " + it->dump());
      return std::nullopt;
    }
    return it->get<std::int64_t>();
  }

  void CheckOptionalType(const json& object, const char* key, const std::string& where,
                         bool (json::*is_type)() const noexcept, const char* type_name) {
    const auto it = object.find(key);
    if (it != object.end() && !it->is_null() && !((*it).*is_type)()) {
      Fail(where + ": \"" + key + "\" is neither " + type_name + " nor null: " + it->dump());
    }
  }

  void CheckFrame(const json& frame, const std::string& where) {
    static const std::regex kPc("0x[0-9a-fA-F]+");
    if (!frame.is_object()) {
      Fail(where + ": frame is not an object");
      return;
    }
    const auto pc = frame.find("pc");
    if (pc == frame.end() || !pc->is_string() ||
        !std::regex_match(pc->get<std::string>(), kPc)) {
      Fail(where + ": frame without a \"pc\" of the form \"0x...\": " + frame.dump());
    }
    CheckOptionalType(frame, "function", where, &json::is_string, "a string");
    CheckOptionalType(frame, "file", where, &json::is_string, "a string");
    CheckOptionalType(frame, "line", where, &json::is_number_integer, "an integer");
    CheckOptionalType(frame, "module", where, &json::is_string, "a string");
  }

  // An array of frames; `required` also demands that it is present and non-empty.
  void CheckStack(const json& object, const char* key, const std::string& where, bool required) {
    const auto it = object.find(key);
    if (it == object.end()) {
      if (required) Fail(where + ": missing \"" + key + "\"");
      return;
    }
    if (!it->is_array()) {
      Fail(where + ": \"" + key + "\" is not an array");
      return;
    }
    if (required && it->empty()) Fail(where + ": \"" + key + "\" is empty");
    for (std::size_t i = 0; i < it->size(); ++i) {
      CheckFrame((*it)[i], where + " " + key + "[" + std::to_string(i) + "]");
    }
  }

  void CheckThread(const json& thread, const std::string& where) {
    if (!thread.is_object()) {
      Fail(where + ": thread is not an object");
      return;
    }
    RequireInteger(thread, "tid", where, /*positive=*/true);
    CheckOptionalType(thread, "name", where, &json::is_string, "a string");
  }

  // Returns the ids of the finding's locks.
  std::set<std::int64_t> CheckLocks(const json& finding, const std::string& where, bool required) {
    std::set<std::int64_t> ids;
    const auto locks = finding.find("locks");
    if (locks == finding.end()) {
      if (required) Fail(where + ": missing \"locks\"");
      return ids;
    }
    if (!locks->is_array() || (required && locks->empty())) {
      Fail(where + ": \"locks\" is not a non-empty array");
      return ids;
    }
    for (std::size_t i = 0; i < locks->size(); ++i) {
      const json& lock = (*locks)[i];
      const std::string at = where + " locks[" + std::to_string(i) + "]";
      if (!lock.is_object()) {
        Fail(at + ": not an object");
        continue;
      }
      if (auto id = RequireInteger(lock, "id", at)) {
        if (!ids.insert(*id).second) Fail(at + ": duplicate lock id " + std::to_string(*id));
      }
      const auto name = lock.find("name");
      if (name == lock.end() || !name->is_string() || name->get<std::string>().empty()) {
        Fail(at + ": no non-empty string \"name\"");
      } else {
        lock_names_.insert(name->get<std::string>());
      }
      CheckOptionalType(lock, "addr", at, &json::is_string, "a string");
      CheckOptionalType(lock, "level", at, &json::is_number_integer, "an integer");
    }
    return ids;
  }

  void CheckFinding(const json& finding) {
    static const std::regex kTime(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)");
    ++total_findings_;
    std::string where = "finding";
    const auto kind = finding.find("kind");
    if (kind == finding.end() || !kind->is_string() || !IsKind(kind->get<std::string>())) {
      Fail(where + ": \"kind\" is missing or not a DESIGN.md §5 kind: " +
           (kind == finding.end() ? std::string("(absent)") : kind->dump()));
    } else {
      where = kind->get<std::string>();
      ++counts_[where];
    }
    const auto message = finding.find("message");
    if (message == finding.end() || !message->is_string() || message->get<std::string>().empty()) {
      Fail(where + ": no non-empty string \"message\"");
    }
    RequireInteger(finding, "pid", where, /*positive=*/true);
    const auto time = finding.find("time");
    if (time == finding.end() || !time->is_string() ||
        !std::regex_match(time->get<std::string>(), kTime)) {
      Fail(where + ": \"time\" is missing or not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.f]Z)");
    }
    const bool is_cycle = where == "lock_order_cycle";
    const auto single_thread = finding.find("single_thread");
    if (single_thread != finding.end() && !single_thread->is_boolean()) {
      Fail(where + ": \"single_thread\" is not a boolean");
    } else if (is_cycle && single_thread == finding.end()) {
      Fail(where + ": missing \"single_thread\"");
    }
    const std::set<std::int64_t> lock_ids = CheckLocks(finding, where, /*required=*/is_cycle);
    const auto threads = finding.find("threads");
    if (threads != finding.end()) {
      if (!threads->is_array()) {
        Fail(where + ": \"threads\" is not an array");
      } else {
        for (const json& thread : *threads) CheckThread(thread, where + " threads[]");
      }
    }
    CheckStack(finding, "stack", where, /*required=*/false);
    if (options_.frame_file && !NamesFrameOf(finding, *options_.frame_file)) {
      Fail(where + ": no frame of " + *options_.frame_file + " (with a line) in its stacks");
    }
    if (is_cycle) CheckCycle(finding, lock_ids, where);
    if (where == "deadlock" && options_.deadlock_threads) {
      // A wait-for cycle: thread i holds edge.from and is blocked on edge.to.
      const std::size_t n = static_cast<std::size_t>(*options_.deadlock_threads);
      if (threads == finding.end() || !threads->is_array() || threads->size() != n) {
        Fail(where + ": expected " + std::to_string(n) + " threads");
      }
      // A thread waiting on a channel (docs/channels.md) adds no lock edge, nor does a thread
      // blocked on a lock whose holder waits on a channel: a deadlock through channels has fewer
      // lock edges than threads, and they need not close a cycle.
      std::size_t channel_waiters = 0;
      const auto channels = finding.find("channels");
      if (channels != finding.end() && channels->is_array()) {
        for (const json& c : *channels) {
          channel_waiters += c.value("senders_waiting", 0u) + c.value("receivers_waiting", 0u);
        }
      }
      const auto edges = finding.find("edges");
      const bool have_edges = edges != finding.end() && edges->is_array();
      const std::size_t have = have_edges ? edges->size() : 0;
      if (channel_waiters == 0 && have != n) {
        Fail(where + ": expected " + std::to_string(n) + " edges (one per blocked thread)");
      } else if (channel_waiters > 0 && have >= n) {
        Fail(where + ": expected fewer than " + std::to_string(n) +
             " edges (a channel wait adds none), found " + std::to_string(have));
      } else if (channel_waiters == 0) {
        CheckCycle(finding, lock_ids, where);
      } else if (have_edges) {
        for (const json& edge : *edges) {  // no closed lock cycle: the channel closes it
          for (const char* end : {"from", "to"}) {
            if (!edge.contains(end) || !edge[end].is_number_integer() ||
                !lock_ids.count(edge[end].get<std::int64_t>())) {
              Fail(where + ": an edge's \"" + end + "\" is not a lock of the finding");
            }
          }
        }
      }
    }
  }

  // Does any stack of the finding (its own, its edges', its held lock's) have a frame in `file`?
  static bool NamesFrameOf(const json& finding, const std::string& file) {
    auto in_stack = [&](const json& holder, const char* key) {
      const auto stack = holder.find(key);
      if (stack == holder.end() || !stack->is_array()) return false;
      for (const json& frame : *stack) {
        const auto f = frame.find("file");
        const auto l = frame.find("line");
        if (f == frame.end() || !f->is_string() || l == frame.end() || !l->is_number_integer()) {
          continue;
        }
        const std::string path = f->get<std::string>();
        if (path == file || (path.size() > file.size() &&
                             path.compare(path.size() - file.size() - 1, std::string::npos,
                                          "/" + file) == 0)) {
          return true;
        }
      }
      return false;
    };
    if (in_stack(finding, "stack") || in_stack(finding, "held_stack")) return true;
    const auto edges = finding.find("edges");
    if (edges != finding.end() && edges->is_array()) {
      for (const json& e : *edges) {
        if (in_stack(e, "stack") || in_stack(e, "held_stack")) return true;
      }
    }
    return false;
  }

  void CheckCycle(const json& finding, const std::set<std::int64_t>& lock_ids,
                  const std::string& where) {
    const auto edges = finding.find("edges");
    if (edges == finding.end() || !edges->is_array() || edges->empty()) {
      Fail(where + ": \"edges\" is missing or not a non-empty array");
      return;
    }
    std::map<std::int64_t, std::int64_t> next;  // from -> to
    std::set<std::int64_t> targets;
    bool endpoints_ok = true;
    for (std::size_t i = 0; i < edges->size(); ++i) {
      const json& edge = (*edges)[i];
      const std::string at = where + " edges[" + std::to_string(i) + "]";
      if (!edge.is_object()) {
        Fail(at + ": not an object");
        endpoints_ok = false;
        continue;
      }
      const auto from = RequireInteger(edge, "from", at);
      const auto to = RequireInteger(edge, "to", at);
      for (const auto& end : {from, to}) {
        if (end && !lock_ids.count(*end)) {
          Fail(at + ": lock id " + std::to_string(*end) + " is not in the finding's \"locks\"");
        }
      }
      if (from && to) {
        if (!next.emplace(*from, *to).second || !targets.insert(*to).second) endpoints_ok = false;
      } else {
        endpoints_ok = false;
      }
      const auto thread = edge.find("thread");
      if (thread == edge.end()) {
        Fail(at + ": missing \"thread\"");
      } else {
        CheckThread(*thread, at + " thread");
      }
      CheckStack(edge, "stack", at, /*required=*/true);
      CheckStack(edge, "held_stack", at, /*required=*/true);
    }
    // One simple cycle: following from -> to from the first edge visits every edge and returns.
    if (endpoints_ok) {
      const std::int64_t start = next.begin()->first;
      std::int64_t at = start;
      std::size_t steps = 0;
      do {
        const auto it = next.find(at);
        if (it == next.end()) break;
        at = it->second;
        ++steps;
      } while (at != start && steps <= next.size());
      endpoints_ok = at == start && steps == next.size();
    }
    if (!endpoints_ok) {
      std::string listed;
      for (const json& edge : *edges) {
        listed += (listed.empty() ? "" : ", ") + edge.value("from", json()).dump() + "->" +
                  edge.value("to", json()).dump();
      }
      Fail(where + ": the edges do not form one simple cycle: " + listed);
    }

    if (options_.edges && static_cast<std::int64_t>(edges->size()) != *options_.edges) {
      Fail(where + ": expected " + std::to_string(*options_.edges) + " edges, found " +
           std::to_string(edges->size()));
    }
    if (options_.implied_edges) {
      std::int64_t implied = 0;
      for (const json& edge : *edges) {
        if (!edge.is_object()) continue;
        const auto it = edge.find("implied");
        if (it == edge.end()) continue;
        if (!it->is_boolean() || !it->get<bool>()) {
          Fail(where + ": \"implied\" is present but not true");
          continue;
        }
        ++implied;
      }
      if (implied != *options_.implied_edges) {
        Fail(where + ": expected " + std::to_string(*options_.implied_edges) +
             " implied edges, found " + std::to_string(implied));
      }
    }
    const auto single_thread = finding.find("single_thread");
    if (options_.single_thread && single_thread != finding.end() && single_thread->is_boolean() &&
        single_thread->get<bool>() != *options_.single_thread) {
      Fail(where + ": expected \"single_thread\": " + (*options_.single_thread ? "true" : "false") +
           ", found " + single_thread->dump());
    }
  }

  void CheckGroup(const json& group) {
    const auto kind = group.find("kind");
    if (kind == group.end() || !kind->is_string() || !IsKind(kind->get<std::string>())) {
      Fail("finding_group: no known \"kind\"");
      return;
    }
    const auto count = RequireInteger(group, "count", "finding_group", true);
    const auto shown = RequireInteger(group, "shown", "finding_group");
    if (!count || !shown) return;
    if (*shown >= *count) Fail("finding_group: \"shown\" is not below \"count\"");
    grouped_extra_ += *count - *shown;
    groups_[kind->get<std::string>()] += *count;
  }

  void CheckSummary(const json& summary) {
    for (std::string_view field : kSummaryFields) {
      const std::string key(field);
      // Reports written before channels existed have no channel fields.
      if (key.rfind("channel", 0) == 0 && !summary.contains(key) && !options_.summary_min.count(key)) {
        continue;
      }
      const auto value = RequireInteger(summary, key.c_str(), "summary");
      if (!value) continue;
      summary_[key] = *value;
      if (auto it = options_.summary_min.find(key); it != options_.summary_min.end() &&
                                                    *value < it->second) {
        Fail("summary: expected " + key + " >= " + std::to_string(it->second) + ", found " +
             std::to_string(*value));
      }
      if (auto it = options_.summary_max.find(key); it != options_.summary_max.end() &&
                                                    *value > it->second) {
        Fail("summary: expected " + key + " <= " + std::to_string(it->second) + ", found " +
             std::to_string(*value));
      }
    }
  }

  void CheckExpectations() {
    if (const auto it = summary_.find("findings");
        summaries_ == 1 && it != summary_.end() && it->second != total_findings_ + grouped_extra_) {
      Fail("summary: \"findings\" is " + std::to_string(it->second) + " but the report has " +
           std::to_string(total_findings_) + " finding line(s) and " +
           std::to_string(grouped_extra_) + " more counted in finding_group lines");
    }
    for (const auto& [kind, want] : options_.groups) {
      const auto found = groups_.count(kind) ? groups_.at(kind) : 0;
      if (found != want) {
        Fail("expected a finding_group of " + std::to_string(want) + " " + kind +
             " finding(s), found " + std::to_string(found));
      }
    }
    for (const auto& [kind, want] : options_.expect) {
      const auto found = counts_.count(kind) ? counts_.at(kind) : 0;
      if (found != want) {
        Fail("expected " + std::to_string(want) + " " + kind + " finding(s), found " +
             std::to_string(found));
      }
    }
    if (options_.expect_total && *options_.expect_total != total_findings_) {
      Fail("expected " + std::to_string(*options_.expect_total) + " finding(s) in all, found " +
           std::to_string(total_findings_) + DescribeCounts());
    }
    if (options_.single_thread && !counts_.count("lock_order_cycle")) {
      Fail("--single-thread given but the report has no lock_order_cycle");
    }
    for (const std::string& name : options_.lock_names) {
      if (!lock_names_.count(name)) {
        std::string seen;
        for (const std::string& n : lock_names_) seen += (seen.empty() ? "" : ", ") + n;
        Fail("no lock named '" + name + "' in any finding (names seen: " +
             (seen.empty() ? "none" : seen) + ")");
      }
    }
  }

  Options options_;
  std::size_t line_ = 0;  // 1-based line being checked; 0 for whole-report problems
  int problems_ = 0;
  int summaries_ = 0;
  std::int64_t total_findings_ = 0;
  std::int64_t grouped_extra_ = 0;                // counted only in finding_group lines
  std::map<std::string, std::int64_t> groups_;    // kind -> finding_group counts
  std::map<std::string, std::int64_t> counts_;   // kind -> findings
  std::map<std::string, std::int64_t> summary_;  // summary field -> value
  std::set<std::string> lock_names_;             // every lock name seen in a finding
};

}  // namespace

int main(int argc, char** argv) {
  return ReportChecker(ParseOptions(argc, argv)).Run();
}
