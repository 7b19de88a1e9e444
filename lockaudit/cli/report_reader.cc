// lockaudit/cli/report_reader: JSON Lines -> Report, one line at a time, tolerant of damage.
#include "report_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace lockaudit::cli {
namespace {

using nlohmann::json;

std::string GetString(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<int64_t> GetInt(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

// The array at `key`, or an empty array when it is absent or not an array.
const json& GetArray(const json& object, const char* key) {
  static const json kEmpty = json::array();
  auto it = object.find(key);
  return it != object.end() && it->is_array() ? *it : kEmpty;
}

// The object at `key`, or an empty object.
const json& GetObject(const json& object, const char* key) {
  static const json kEmpty = json::object();
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

Frame ParseFrame(const json& frame) {
  return Frame{.pc = GetString(frame, "pc"),
               .function = GetString(frame, "function"),
               .file = GetString(frame, "file"),
               .line = GetInt(frame, "line"),
               .module = GetString(frame, "module"),
               .offset = GetString(frame, "offset")};
}

Stack ParseStack(const json& object, const char* key) {
  Stack stack;
  for (const json& frame : GetArray(object, key)) stack.push_back(ParseFrame(frame));
  return stack;
}

LockInfo ParseLock(const json& lock) {
  return LockInfo{.id = GetInt(lock, "id"),
                  .name = GetString(lock, "name"),
                  .addr = GetString(lock, "addr"),
                  .level = GetInt(lock, "level")};
}

ThreadInfo ParseThread(const json& thread) {
  return ThreadInfo{.tid = GetInt(thread, "tid"), .name = GetString(thread, "name")};
}

bool PartialFlag(const json& edge) {
  auto it = edge.find("held_stack_partial");
  return it != edge.end() && it->is_boolean() && it->get<bool>();
}

FindingEdge ParseFindingEdge(const json& edge) {
  return FindingEdge{.from = GetInt(edge, "from"),
                     .to = GetInt(edge, "to"),
                     .thread = ParseThread(GetObject(edge, "thread")),
                     .stack = ParseStack(edge, "stack"),
                     .held_stack = ParseStack(edge, "held_stack"),
                     .held_stack_partial = PartialFlag(edge)};
}

Finding ParseFinding(const json& line) {
  Finding finding{.kind = GetString(line, "kind"),
                  .message = GetString(line, "message"),
                  .pid = GetInt(line, "pid"),
                  .time = GetString(line, "time"),
                  .stack = ParseStack(line, "stack")};
  finding.suppression = GetString(line, "suppression");
  finding.held_stack = ParseStack(line, "held_stack");
  auto partial = line.find("held_stack_partial");
  finding.held_stack_partial = partial != line.end() && partial->is_boolean() && partial->get<bool>();
  auto single = line.find("single_thread");
  finding.single_thread = single != line.end() && single->is_boolean() && single->get<bool>();
  auto ordered = line.find("ordered");
  finding.ordered = ordered != line.end() && ordered->is_boolean() && ordered->get<bool>();
  finding.ordered_reason = GetString(line, "ordered_reason");
  for (const json& lock : GetArray(line, "locks")) finding.locks.push_back(ParseLock(lock));
  for (const json& edge : GetArray(line, "edges")) finding.edges.push_back(ParseFindingEdge(edge));
  for (const json& thread : GetArray(line, "threads")) {
    finding.threads.push_back(ParseThread(thread));
  }
  return finding;
}

// ["exclusive", "shared"] -> mode bits; absent or unreadable: exclusive (never left out).
uint8_t ParseModes(const json& line, const char* key) {
  uint8_t modes = 0;
  for (const json& mode : GetArray(line, key)) {
    if (mode == "exclusive") modes |= kModeExclusive;
    if (mode == "shared") modes |= kModeShared;
    if (mode == "writer_preferring") modes |= kModeWriterPreferring;
  }
  return modes == 0 ? kModeExclusive : modes;
}

EdgeRecord ParseEdge(const json& line) {
  EdgeRecord edge{.pid = GetInt(line, "pid"),
                  .from = ParseLock(GetObject(line, "from")),
                  .to = ParseLock(GetObject(line, "to")),
                  .from_modes = ParseModes(line, "from_modes"),
                  .to_modes = ParseModes(line, "to_modes"),
                  .thread = ParseThread(GetObject(line, "thread")),
                  .stack = ParseStack(line, "stack"),
                  .held_stack = ParseStack(line, "held_stack"),
                  .held_stack_partial = PartialFlag(line)};
  for (const json& gate : GetArray(line, "gates")) edge.gates.push_back(ParseLock(gate));
  return edge;
}

Summary ParseSummary(const json& line) {
  auto counter = [&line](const char* key) { return GetInt(line, key).value_or(0); };
  std::vector<SuppressionUse> used;
  for (const json& use : GetArray(line, "suppressions")) {
    if (!use.is_object()) continue;
    used.push_back(SuppressionUse{.rule = GetString(use, "rule"),
                                  .where = GetString(use, "where"),
                                  .matched = GetInt(use, "matched").value_or(0)});
  }
  return Summary{.pid = GetInt(line, "pid"),
                 .program = GetString(line, "program"),
                 .findings = counter("findings"),
                 .ordered = counter("ordered"),
                 .suppressed = counter("suppressed"),
                 .locks = counter("locks"),
                 .edges = counter("edges"),
                 .acquisitions = counter("acquisitions"),
                 .contentions = counter("contentions"),
                 .suppressions = std::move(used)};
}

Pause ParsePause(const json& line) {
  Pause pause{.pid = GetInt(line, "pid"),
              .thread = ParseThread(GetObject(line, "thread")),
              .lock = GetString(line, "lock"),
              .waited_ms = GetInt(line, "waited_ms").value_or(0),
              .outcome = GetString(line, "outcome")};
  for (const json& edge : GetArray(line, "edges")) {
    if (edge.is_number_integer()) pause.edges.push_back(edge.get<int64_t>());
  }
  return pause;
}

ConfirmRecord ParseConfirm(const json& line) {
  ConfirmRecord record{.pid = GetInt(line, "pid"),
                       .cycle = GetString(line, "cycle"),
                       .result = GetString(line, "result"),
                       .runs = GetInt(line, "runs").value_or(0),
                       .run = GetInt(line, "run"),
                       .reason = GetString(line, "reason")};
  for (const json& lock : GetArray(line, "locks")) {
    if (lock.is_string()) record.locks.push_back(lock.get<std::string>());
  }
  for (const json& pause : GetArray(line, "pauses")) {
    if (pause.is_object()) record.pauses.push_back(ParsePause(pause));
  }
  const json& deadlock = GetObject(line, "deadlock");
  if (!deadlock.empty()) record.deadlock = ParseFinding(deadlock);
  return record;
}

ContentionRecord ParseContention(const json& line, const char* stack_key) {
  auto number = [&line](const char* key) { return GetInt(line, key).value_or(0); };
  return ContentionRecord{.pid = GetInt(line, "pid"),
                          .lock = ParseLock(GetObject(line, "lock")),
                          .stack = ParseStack(line, stack_key),
                          .contentions = number("contentions"),
                          .delay_ns = number("delay_ns"),
                          .samples = number("samples"),
                          .rate = std::max<int64_t>(1, number("rate")),
                          .p50_ns = number("p50_ns"),
                          .p99_ns = number("p99_ns"),
                          .max_ns = number("max_ns")};
}

DurationStats ParseDuration(const json& object) {
  auto number = [&object](const char* key) { return GetInt(object, key).value_or(0); };
  return DurationStats{.count = number("count"),
                       .sum_ns = number("sum_ns"),
                       .p50_ns = number("p50_ns"),
                       .p90_ns = number("p90_ns"),
                       .p99_ns = number("p99_ns")};
}

LockStatsRecord ParseLockStats(const json& line) {
  return LockStatsRecord{.pid = GetInt(line, "pid"),
                         .lock = GetString(line, "lock"),
                         .acquisitions = GetInt(line, "acquisitions").value_or(0),
                         .contentions = GetInt(line, "contentions").value_or(0),
                         .wait = ParseDuration(GetObject(line, "wait")),
                         .hold = ParseDuration(GetObject(line, "hold")),
                         .hold_sample_period = GetInt(line, "hold_sample_period").value_or(0)};
}

CondStatsRecord ParseCondStats(const json& line) {
  return CondStatsRecord{.pid = GetInt(line, "pid"),
                         .cond = GetString(line, "cond"),
                         .wake = ParseDuration(GetObject(line, "wake")),
                         .budget_violations = GetInt(line, "budget_violations").value_or(0)};
}

// Adds the record on `text` to `report`. Returns why the line was unusable, or "" when it was
// used or deliberately skipped (an unknown type).
std::string ConsumeLine(const std::string& text, Report& report) {
  json line;
  try {
    line = json::parse(text);
  } catch (const json::parse_error& error) {
    return "not valid JSON (at column " + std::to_string(error.byte) + ")";
  } catch (const json::exception&) {
    // A number too large for a double (1e999) is out_of_range, not a parse error (found by
    // tests/fuzz/report_reader_fuzzer; it used to end the CLI with std::terminate).
    return "not usable JSON (a number out of range)";
  }
  if (!line.is_object()) return "not a JSON object";
  const std::string type = GetString(line, "type");
  if (type.empty()) return "no \"type\" field";
  if (type == "finding") report.findings.push_back(ParseFinding(line));
  if (type == "edge") report.edges.push_back(ParseEdge(line));
  if (type == "summary") report.summaries.push_back(ParseSummary(line));
  if (type == "pause") report.pauses.push_back(ParsePause(line));
  if (type == "confirm") report.confirms.push_back(ParseConfirm(line));
  if (type == "contention") report.contentions.push_back(ParseContention(line, "stack"));
  if (type == "lock_stats") report.lock_stats.push_back(ParseLockStats(line));
  if (type == "cond_stats") report.cond_stats.push_back(ParseCondStats(line));
  if (type == "contention_holder") {
    report.holder_contentions.push_back(ParseContention(line, "site"));
  }
  return "";
}

bool IsBlank(const std::string& text) {
  return text.find_first_not_of(" \t\r") == std::string::npos;
}

void PrintUnreadable(const std::string& path, const char* why, std::ostream& diagnostics) {
  diagnostics << "lockaudit: cannot read " << path << ": " << why << "\n";
}

}  // namespace

std::optional<Report> ReadReport(const std::string& path, std::ostream& diagnostics) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    PrintUnreadable(path, "is a directory", diagnostics);
    return std::nullopt;
  }
  std::ifstream in(path);
  if (!in) {
    PrintUnreadable(path, std::strerror(errno), diagnostics);
    return std::nullopt;
  }
  return ReadReportStream(in, path, diagnostics);
}

std::optional<Report> ReadReportStream(std::istream& in, const std::string& name,
                                       std::ostream& diagnostics) {
  Report report{.path = name};
  std::string text;
  for (int line_number = 1; std::getline(in, text); ++line_number) {
    if (IsBlank(text)) continue;
    const std::string error = ConsumeLine(text, report);
    if (!error.empty()) {
      diagnostics << "lockaudit: " << name << ":" << line_number << ": " << error
                  << "; line skipped\n";
    }
  }
  if (in.bad()) {
    PrintUnreadable(name, std::strerror(errno), diagnostics);
    return std::nullopt;
  }
  return report;
}

}  // namespace lockaudit::cli
