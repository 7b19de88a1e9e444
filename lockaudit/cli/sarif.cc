// lockaudit/cli/sarif: SARIF 2.1.0 from the CLI's report model (nlohmann::json).
#include "sarif.h"

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "config_file.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

using nlohmann::json;

struct Rule {
  const char* id;
  const char* name;
  const char* text;
  const char* level;  // error, warning, note
};

// The finding kinds (README "What it detects"), as SARIF rules.
constexpr Rule kRules[] = {
    {"lock_order_cycle", "LockOrderCycle",
     "Locks acquired in inconsistent order: a potential deadlock.", "error"},
    {"hierarchy_violation", "HierarchyViolation",
     "A lock taken while a lock of an equal or higher level is held.", "error"},
    {"deadlock", "ActualDeadlock", "Threads blocked on locks each other holds: an actual deadlock.",
     "error"},
    {"double_lock", "DoubleLock", "A non-recursive lock taken again by its holder.", "error"},
    {"unlock_not_held", "UnlockNotHeld", "A lock released by a thread that does not hold it.",
     "error"},
    {"destroy_held", "DestroyHeld", "A lock destroyed while it is held.", "error"},
    {"thread_exit_holding", "ThreadExitHolding", "A thread exited while holding a lock.",
     "warning"},
    {"cond_mutex_mismatch", "CondMutexMismatch",
     "One condition variable waited on with two mutexes at once.", "error"},
    {"wait_stall", "WaitStall", "A thread blocked on a lock longer than the stall threshold.",
     "warning"},
    {"hold_stall", "HoldStall", "A lock held longer than the stall threshold.", "warning"},
    {"blocking_in_nonblocking", "BlockingInNonblocking",
     "A thread that must not block (an event loop, an executor) blocked.", "warning"},
    {"gpu_sync_under_lock", "GpuSyncUnderLock",
     "A CUDA synchronising call made while holding locks.", "warning"},
    {"wake_budget", "WakeBudget",
     "A woken condition-variable waiter ran later than the wake budget.", "note"},
    {"misaligned_lock", "MisalignedLock",
     "A lock word not 4-byte aligned or split across two cache lines.", "warning"},
    {"blocking_under_lock", "BlockingUnderLock",
     "A blocking call (sleep, poll, a blocking read, waitpid, ...) made while holding a lock.",
     "warning"},
    {"lock_churn", "LockChurn",
     "A lock released and taken again by one thread from a recurring pair of sites.", "note"},
    {"rwlock_as_mutex", "RwlockAsMutex",
     "A contended reader-writer lock whose acquisitions are almost all exclusive.", "note"},
    {"lock_false_sharing", "LockFalseSharing",
     "Two hot locks on one 64-byte cache line, taken by different threads.", "warning"},
    {"send_on_closed", "SendOnClosed",
     "A send on a channel after it was closed: the send failed and the item was not queued.",
     "error"},
    {"channel_stall", "ChannelStall",
     "A send waited on a full channel, or a receive on an empty one, past the stall threshold.",
     "warning"},
    {"channel_leak", "ChannelLeak",
     "A channel destroyed or left open at exit with items never received or threads waiting.",
     "warning"},
};

// A frame of the program's own source: with a file and line, not in a system header, not in
// the C or C++ runtime (whose debug information names glibc's build tree, ../sysdeps/...), not
// in lockaudit's own headers or libraries.
bool IsProgramFrame(const Frame& f) {
  if (f.file.empty() || !f.line || *f.line <= 0) return false;
  if (core::IsPlumbingFile(f.file) || f.file.rfind("/usr/", 0) == 0 ||
      f.file.rfind("../", 0) == 0 || f.file.rfind("./", 0) == 0) {
    return false;
  }
  for (const char* runtime : {"libc.so", "libstdc++.so", "libgcc_s.so", "libm.so", "ld-linux",
                              "libpthread.so", "liblockaudit"}) {
    if (f.module.rfind(runtime, 0) == 0) return false;
  }
  return true;
}

const Frame* FirstProgramFrame(const Stack& stack) {
  for (const Frame& f : stack) {
    if (IsProgramFrame(f)) return &f;
  }
  return nullptr;
}

std::string PercentEncode(const std::string& path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

json PhysicalLocation(const Frame& f, const std::string& root) {
  json artifact;
  std::string root_slash = root;
  if (!root_slash.empty() && root_slash.back() != '/') root_slash += '/';
  if (!root_slash.empty() && f.file.rfind(root_slash, 0) == 0) {
    artifact = {{"uri", PercentEncode(f.file.substr(root_slash.size()))}, {"uriBaseId", "SRCROOT"}};
  } else if (!f.file.empty() && f.file[0] == '/') {
    artifact = {{"uri", "file://" + PercentEncode(f.file)}};
  } else {
    artifact = {{"uri", PercentEncode(f.file)}, {"uriBaseId", "SRCROOT"}};
  }
  return {{"artifactLocation", artifact}, {"region", {{"startLine", *f.line}}}};
}

json Location(const Frame& f, const std::string& root, const std::string& message) {
  json l = {{"physicalLocation", PhysicalLocation(f, root)}};
  if (!f.function.empty()) {
    l["logicalLocations"] = json::array({{{"fullyQualifiedName", f.function}, {"kind", "function"}}});
  }
  if (!message.empty()) l["message"] = {{"text", message}};
  return l;
}

// A thread flow through the program's frames of `stack`, outermost first (the order a reader
// follows a call), the innermost one carrying `what`.
void AddFrames(json& flow_locations, const Stack& stack, const std::string& root,
               const std::string& what) {
  std::vector<const Frame*> frames;
  for (const Frame& f : stack) {
    if (IsProgramFrame(f)) frames.push_back(&f);
  }
  for (size_t i = frames.size(); i-- > 0;) {
    flow_locations.push_back(
        {{"location", Location(*frames[i], root, i == 0 ? what : "called from here")},
         {"nestingLevel", static_cast<int>(frames.size() - 1 - i)}});
  }
}

}  // namespace

std::string SarifReport(const Report& report, const std::string& source_root) {
  json rules = json::array();
  std::map<std::string, size_t> rule_index;
  for (const Rule& r : kRules) {
    rule_index[r.id] = rules.size();
    rules.push_back({{"id", r.id},
                     {"name", r.name},
                     {"shortDescription", {{"text", r.text}}},
                     {"helpUri", "https://lockaudit.invalid/docs/report.md"},
                     {"defaultConfiguration", {{"level", r.level}}}});
  }
  json results = json::array();
  for (const Finding& finding : report.findings) {
    auto rule = rule_index.find(finding.kind);
    json result = {{"ruleId", finding.kind},
                   {"message", {{"text", finding.message.empty() ? finding.kind : finding.message}}}};
    if (rule != rule_index.end()) {
      result["ruleIndex"] = rule->second;
      result["level"] = kRules[rule->second].level;
    }
    if (finding.ordered) result["level"] = "note";  // cannot deadlock as observed
    // Where: the finding's own stack, else its first edge's, else any edge's held stack.
    const Frame* where = FirstProgramFrame(finding.stack);
    for (size_t i = 0; where == nullptr && i < finding.edges.size(); ++i) {
      where = FirstProgramFrame(finding.edges[i].stack);
      if (where == nullptr) where = FirstProgramFrame(finding.edges[i].held_stack);
    }
    result["locations"] = json::array();
    if (where != nullptr) result["locations"].push_back(Location(*where, source_root, ""));
    json flows = json::array();
    for (const FindingEdge& edge : finding.edges) {
      const std::string from = LockDisplayName(FindLock(finding, edge.from));
      const std::string to = LockDisplayName(FindLock(finding, edge.to));
      json locations = json::array();
      AddFrames(locations, edge.held_stack, source_root, "'" + from + "' acquired");
      std::string requested = "'" + to;
      requested += "' requested while holding '";
      requested += from;
      requested += "'";
      AddFrames(locations, edge.stack, source_root, requested);
      if (locations.empty()) continue;
      std::string title = from;
      title += " -> ";
      title += to;
      title += " (thread ";
      title += FormatThread(edge.thread);
      title += ")";
      flows.push_back({{"message", {{"text", title}}},
                       {"threadFlows", json::array({{{"locations", locations}}})}});
    }
    if (!finding.held_stack.empty() && !finding.locks.empty()) {
      // blocking_under_lock, lock_churn: where the lock was taken, then the call or re-take.
      const std::string lock = LockDisplayName(FindLock(finding, finding.locks[0].id));
      json locations = json::array();
      AddFrames(locations, finding.held_stack, source_root, "'" + lock + "' acquired");
      AddFrames(locations, finding.stack, source_root,
                finding.kind == "lock_churn" ? "'" + lock + "' taken again after its release"
                                             : "blocking call while holding '" + lock + "'");
      if (!locations.empty()) {
        flows.push_back({{"message", {{"text", lock}}},
                         {"threadFlows", json::array({{{"locations", locations}}})}});
      }
    }
    if (!flows.empty()) result["codeFlows"] = flows;
    // A stable identity across runs for code scanning: kind and lock names.
    std::string key = finding.kind;
    for (const std::string& name : FindingLockNames(finding)) key += "|" + name;
    result["partialFingerprints"] = {{"lockauditKind/locks", key}};
    if (finding.pid) result["properties"] = {{"pid", *finding.pid}, {"ordered", finding.ordered}};
    results.push_back(result);
  }
  json run = {{"tool",
               {{"driver",
                 {{"name", "lockaudit"},
                  {"version", LOCKAUDIT_VERSION},
                  {"informationUri", "https://lockaudit.invalid/"},
                  {"rules", rules}}}}},
              {"results", results}};
  if (!source_root.empty()) {
    std::string root = source_root;
    if (root.back() != '/') root += '/';
    run["originalUriBaseIds"] = {{"SRCROOT", {{"uri", "file://" + PercentEncode(root)}}}};
  }
  json log = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
              {"version", "2.1.0"},
              {"runs", json::array({run})}};
  return log.dump(2) + "\n";
}

}  // namespace lockaudit::cli
