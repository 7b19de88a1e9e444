// lockaudit/cli/merge_command: `lockaudit merge A.jsonl B.jsonl ...` joins the lock-order graphs
// recorded by several runs, keyed by lock name, and lists every elementary cycle of the union
// that could deadlock (the rules `run` applies: no common gate, no read-read link), marking those
// no single run saw complete ("cross-run"). Text, or JSON Lines that `lockaudit report` reads.
#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "config_file.h"
#include "cycles.h"
#include "report_reader.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

constexpr std::string_view kMergeHelp = R"(usage: lockaudit merge [--suppressions FILE] [--format text|jsonl] A.jsonl B.jsonl ...

Joins the "edge" lines of the JSON Lines reports of several runs of the same
program into one lock-order graph and prints every cycle in it that could
deadlock, with the file, process (pid), thread and acquisition site each of its
edges was seen at. A cycle whose edges were never all seen by one run is marked
"cross-run": each run took only part of the lock order, so none of them
reported it, but together they show a potential deadlock.

The rules of `lockaudit run` apply: a cycle whose edges were all taken while
one same lock was held exclusively (a gate) cannot deadlock, nor one that
passes a lock taken shared by both of its edges there (two readers do not block
each other); such cycles are counted as left out, not listed.

Locks are matched by NAME across runs (addresses and ids differ between
processes); edges whose locks have no name, or only an address ("0x..."), are
skipped and counted. Name your locks (lockaudit::mutex, lockaudit_set_name) or
rely on the names of static objects to merge them.

  --suppressions FILE  the LOCKAUDIT_SUPPRESSIONS syntax (docs/suppressions.md):
                       lock_order_cycle (or *) rules drop the cycles they match
  --format text|jsonl  text (default), or JSON Lines: one lock_order_cycle
                       finding per cycle and a summary line, for
                       `lockaudit report` and other tools

exit status: 0 if the merged graph has no cycle left (after the rules and the
suppressions); 1 if it has at least one; 2 if a file cannot be read, or for a
usage error.
)";

// At most this many cycles are listed; a graph with more is reported as cut short.
constexpr size_t kMaxCycles = 1000;
// At most this many runs are listed under one edge.
constexpr size_t kMaxSightingsShown = 3;

using LockPair = std::pair<std::string, std::string>;

// One process whose edge lines were read.
struct Run {
  std::string file;
  std::optional<int64_t> pid;
};

// One run's observation of a merged edge.
struct Sighting {
  size_t run = 0;
  ThreadInfo thread;
  Stack stack;       // where the `to` lock was acquired
  Stack held_stack;  // where the `from` lock had been acquired
  bool held_stack_partial = false;
};

// One edge of the union. Invariant: at most one Sighting per run.
struct MergedEdge {
  std::vector<Sighting> sightings;
  // Gate names common to every line of every run (engine: gates only shrink, modes only grow);
  // unset until the first line.
  std::optional<std::set<std::string>> gates;
  uint8_t from_modes = 0, to_modes = 0;
};

// The union of the named edges of all runs.
struct MergedGraph {
  std::vector<Run> runs;
  std::map<LockPair, MergedEdge> edges;
  int skipped_edges = 0;
};

// Only a real name identifies a lock across processes.
bool HasStableName(const LockInfo& lock) {
  return !lock.name.empty() && !lock.name.starts_with("0x");
}

size_t RunIndex(MergedGraph& graph, const std::string& file, std::optional<int64_t> pid) {
  for (size_t i = 0; i < graph.runs.size(); ++i) {
    if (graph.runs[i].file == file && graph.runs[i].pid == pid) return i;
  }
  graph.runs.push_back(Run{.file = file, .pid = pid});
  return graph.runs.size() - 1;
}

void AddReport(const Report& report, MergedGraph& graph) {
  for (const EdgeRecord& edge : report.edges) {
    if (!HasStableName(edge.from) || !HasStableName(edge.to)) {
      ++graph.skipped_edges;
      continue;
    }
    const size_t run = RunIndex(graph, report.path, edge.pid);
    MergedEdge& merged = graph.edges[{edge.from.name, edge.to.name}];
    std::vector<Sighting>& sightings = merged.sightings;
    const bool seen = std::any_of(sightings.begin(), sightings.end(),
                                  [run](const Sighting& s) { return s.run == run; });
    if (!seen) {
      sightings.push_back(Sighting{.run = run, .thread = edge.thread, .stack = edge.stack,
                                   .held_stack = edge.held_stack,
                                   .held_stack_partial = edge.held_stack_partial});
    }
    // A gate without a stable name cannot be matched across runs: it is dropped (the cycle is
    // then kept, never wrongly left out).
    std::set<std::string> gates;
    for (const LockInfo& gate : edge.gates) {
      if (HasStableName(gate)) gates.insert(gate.name);
    }
    if (!merged.gates) {
      merged.gates = std::move(gates);
    } else {
      std::set<std::string> both;
      std::set_intersection(merged.gates->begin(), merged.gates->end(), gates.begin(), gates.end(),
                            std::inserter(both, both.end()));
      merged.gates = std::move(both);
    }
    merged.from_modes |= edge.from_modes;
    merged.to_modes |= edge.to_modes;
  }
}

// The merged graph as adjacency lists over lock names sorted alphabetically.
struct IndexedGraph {
  std::vector<std::string> names{};
  std::vector<std::vector<size_t>> successors{};
};

IndexedGraph IndexLocks(const MergedGraph& graph) {
  std::set<std::string> names;
  for (const auto& [locks, edge] : graph.edges) names.insert({locks.first, locks.second});
  IndexedGraph indexed{.names = {names.begin(), names.end()}};
  indexed.successors.resize(indexed.names.size());
  auto index_of = [&indexed](const std::string& name) {
    return static_cast<size_t>(std::lower_bound(indexed.names.begin(), indexed.names.end(), name) -
                               indexed.names.begin());
  };
  for (const auto& [locks, edge] : graph.edges) {
    indexed.successors[index_of(locks.first)].push_back(index_of(locks.second));
  }
  return indexed;
}

// The edges of `cycle`, each as (from name, to name), closing edge included.
std::vector<LockPair> CycleEdges(const IndexedGraph& indexed, const Cycle& cycle) {
  std::vector<LockPair> edges;
  for (size_t i = 0; i < cycle.size(); ++i) {
    edges.emplace_back(indexed.names[cycle[i]], indexed.names[cycle[(i + 1) % cycle.size()]]);
  }
  return edges;
}

// True when no single run saw every edge of the cycle.
bool IsCrossRun(const MergedGraph& graph, const std::vector<LockPair>& edges) {
  for (size_t run = 0; run < graph.runs.size(); ++run) {
    const bool saw_all = std::all_of(edges.begin(), edges.end(), [&](const LockPair& edge) {
      const std::vector<Sighting>& sightings = graph.edges.at(edge).sightings;
      return std::any_of(sightings.begin(), sightings.end(),
                         [run](const Sighting& s) { return s.run == run; });
    });
    if (saw_all) return false;
  }
  return true;
}

std::string DescribeRun(const Run& run) {
  return run.file + (run.pid ? " (pid " + std::to_string(*run.pid) + ")" : "");
}

void PrintEdge(const MergedGraph& graph, const LockPair& edge, std::ostream& out) {
  out << "  " << edge.first << " -> " << edge.second << "\n";
  const std::vector<Sighting>& sightings = graph.edges.at(edge).sightings;
  for (size_t i = 0; i < sightings.size() && i < kMaxSightingsShown; ++i) {
    const Sighting& sighting = sightings[i];
    out << "    seen in " << DescribeRun(graph.runs[sighting.run]) << ", thread "
        << FormatThread(sighting.thread);
    if (!sighting.stack.empty()) {
      out << ": " << edge.second << " acquired at " << FormatFrame(sighting.stack.front());
    }
    out << "\n";
  }
  if (sightings.size() > kMaxSightingsShown) {
    out << "    ... and in " << CountOf(sightings.size() - kMaxSightingsShown, "more run") << "\n";
  }
}

void PrintHeader(const MergedGraph& graph, const IndexedGraph& indexed, size_t files,
                 std::ostream& out) {
  out << "lockaudit: merged " << CountOf(files, "file") << ": " << CountOf(graph.runs.size(), "run")
      << ", " << CountOf(indexed.names.size(), "named lock") << ", "
      << CountOf(graph.edges.size(), "edge") << "\n";
  if (graph.skipped_edges > 0) {
    out << "lockaudit: skipped " << CountOf(graph.skipped_edges, "edge")
        << " whose locks have no name (only named locks can be matched across runs)\n";
  }
}

// Why a cycle of the union cannot deadlock as observed, by the rules the engine applies
// (core/lock_order_graph.h FindCycle): every edge taken under one common gate, or a lock of the
// cycle taken shared by both the edge into it and the edge out of it.
enum class LeftOut { kNo, kGated, kReadRead };

LeftOut WhyLeftOut(const MergedGraph& graph, const std::vector<LockPair>& edges) {
  std::set<std::string> common = graph.edges.at(edges.front()).gates.value_or(std::set<std::string>{});
  for (const LockPair& edge : edges) {
    const std::set<std::string> gates = graph.edges.at(edge).gates.value_or(std::set<std::string>{});
    std::set<std::string> both;
    std::set_intersection(common.begin(), common.end(), gates.begin(), gates.end(),
                          std::inserter(both, both.end()));
    common = std::move(both);
  }
  if (!common.empty()) return LeftOut::kGated;
  for (size_t k = 0; k < edges.size(); ++k) {
    const MergedEdge& into = graph.edges.at(edges[(k + edges.size() - 1) % edges.size()]);
    const MergedEdge& out_of = graph.edges.at(edges[k]);
    if (into.to_modes == kModeShared && out_of.from_modes == kModeShared) return LeftOut::kReadRead;
  }
  return LeftOut::kNo;
}

struct Suppression {
  std::string pattern, rule, where;
  int64_t matched = 0;
};

// The lock_order_cycle and '*' rules of a suppressions file; false (after one diagnostic) when
// the file cannot be read. Bad lines get the engine's one-line warning and are skipped.
bool LoadSuppressions(const std::string& path, std::vector<Suppression>& rules) {
  std::string text, why;
  if (!core::ReadConfigFile(path.c_str(), &text, &why)) {
    std::cerr << "lockaudit: merge: --suppressions: '" << path << "' " << why << "\n";
    return false;
  }
  if (!why.empty()) std::cerr << "lockaudit: warning: --suppressions: '" << path << "' " << why << "\n";
  core::ForEachConfigLine(text, [&](const core::ConfigLine& line) {
    std::string kind, pattern, reason;
    if (!core::ParseSuppressionLine(line.text, &kind, &pattern, &reason)) {
      std::cerr << "lockaudit: warning: --suppressions: " << path << ":" << line.number << ": '"
                << core::ShownLine(line.text) << "' " << reason << "; line ignored\n";
      return;
    }
    if (kind == "*" || kind == kLockOrderCycle) {
      rules.push_back({pattern, line.text, path + ":" + std::to_string(line.number)});
    }
  });
  return true;
}

// The first rule that matches a lock name of the cycle or a frame (function, file, module) of a
// stack of one of its edges' sightings, as the engine matches findings.
Suppression* MatchingRule(const MergedGraph& graph, const std::vector<LockPair>& edges,
                          std::vector<Suppression>& rules) {
  auto frames_match = [](const Suppression& rule, const Stack& stack) {
    for (const Frame& frame : stack) {
      const size_t slash = frame.file.rfind('/');
      for (const std::string& value :
           {frame.function, core::FunctionWithoutParameters(frame.function), frame.file,
            slash == std::string::npos ? std::string() : frame.file.substr(slash + 1), frame.module}) {
        if (!value.empty() && core::SuppressionPatternMatches(rule.pattern, value)) return true;
      }
    }
    return false;
  };
  for (Suppression& rule : rules) {
    for (const LockPair& edge : edges) {
      if (core::SuppressionPatternMatches(rule.pattern, edge.first)) return &rule;
      for (const Sighting& s : graph.edges.at(edge).sightings) {
        if (frames_match(rule, s.stack) || frames_match(rule, s.held_stack)) return &rule;
      }
    }
  }
  return nullptr;
}

struct Outcome {
  size_t listed = 0, cross_run = 0, gated = 0, read_read = 0, suppressed = 0;
  bool cut_short = false;
};

// Prints one cycle as text.
void PrintCycle(const MergedGraph& graph, const std::vector<LockPair>& edges, bool cross_run,
                size_t number, std::ostream& out) {
  out << "cycle " << number << (cross_run ? " (cross-run)" : " (within one run)") << ": ";
  for (const LockPair& edge : edges) out << edge.first << " -> ";
  out << edges.front().first << "\n";
  for (const LockPair& edge : edges) PrintEdge(graph, edge, out);
}

nlohmann::json FrameJson(const Frame& frame) {
  nlohmann::json j = {{"pc", frame.pc},
                      {"function", frame.function.empty() ? nlohmann::json() : nlohmann::json(frame.function)},
                      {"file", frame.file.empty() ? nlohmann::json() : nlohmann::json(frame.file)},
                      {"line", frame.line ? nlohmann::json(*frame.line) : nlohmann::json()},
                      {"module", frame.module}};
  return j;
}

nlohmann::json StackJson(const Stack& stack) {
  nlohmann::json j = nlohmann::json::array();
  for (const Frame& frame : stack) j.push_back(FrameJson(frame));
  return j;
}

// One cycle as a report finding line (docs/report.md), lock ids local to the line.
std::string CycleJson(const MergedGraph& graph, const std::vector<LockPair>& edges, bool cross_run) {
  nlohmann::json locks = nlohmann::json::array(), jedges = nlohmann::json::array(),
                 threads = nlohmann::json::array();
  std::string names;
  for (size_t i = 0; i < edges.size(); ++i) {
    locks.push_back({{"id", i + 1}, {"name", edges[i].first}, {"addr", nullptr}, {"level", nullptr}});
    names += "'" + edges[i].first + "' -> ";
  }
  names += "'" + edges.front().first + "'";
  for (size_t i = 0; i < edges.size(); ++i) {
    const Sighting& s = graph.edges.at(edges[i]).sightings.front();
    const Run& run = graph.runs[s.run];
    nlohmann::json thread = {{"tid", s.thread.tid ? nlohmann::json(*s.thread.tid) : nlohmann::json()},
                             {"name", s.thread.name}};
    jedges.push_back({{"from", i + 1}, {"to", (i + 1) % edges.size() + 1}, {"thread", thread},
                      {"stack", StackJson(s.stack)}, {"held_stack", StackJson(s.held_stack)},
                      {"file", run.file}, {"pid", run.pid ? nlohmann::json(*run.pid) : nlohmann::json()}});
    if (s.held_stack_partial) jedges.back()["held_stack_partial"] = true;
    threads.push_back(thread);
  }
  nlohmann::json line = {
      {"type", "finding"},
      {"kind", kLockOrderCycle},
      {"message", "potential deadlock: " + std::to_string(edges.size()) +
                      " locks acquired in inconsistent order: " + names +
                      (cross_run ? " (merged: no single run saw every edge)" : " (merged)")},
      {"cross_run", cross_run},
      {"locks", locks},
      {"edges", jedges},
      {"threads", threads},
      {"suppression", core::SuppressionLineFor(kLockOrderCycle, edges.front().first)}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Outcome ReportCycles(const MergedGraph& graph, const IndexedGraph& indexed,
                     std::vector<Suppression>& rules, bool jsonl, std::ostream& out) {
  const std::vector<Cycle> cycles = FindElementaryCycles(indexed.successors, kMaxCycles);
  Outcome o;
  o.cut_short = cycles.size() == kMaxCycles;
  for (const Cycle& cycle : cycles) {
    const std::vector<LockPair> edges = CycleEdges(indexed, cycle);
    const LeftOut why = WhyLeftOut(graph, edges);
    if (why != LeftOut::kNo) {
      ++(why == LeftOut::kGated ? o.gated : o.read_read);
      continue;
    }
    if (Suppression* rule = MatchingRule(graph, edges, rules)) {
      ++rule->matched;
      ++o.suppressed;
      continue;
    }
    const bool cross_run = IsCrossRun(graph, edges);
    o.cross_run += cross_run ? 1 : 0;
    ++o.listed;
    if (jsonl) {
      out << CycleJson(graph, edges, cross_run) << "\n";
    } else {
      PrintCycle(graph, edges, cross_run, o.listed, out);
    }
  }
  return o;
}

void PrintOutcome(const Outcome& o, const std::vector<Suppression>& rules, std::ostream& out) {
  if (o.listed == 0) {
    out << "lockaudit: no lock-order cycle";
  } else {
    out << "lockaudit: " << CountOf(o.listed, "cycle") << ", " << o.cross_run << " cross-run";
  }
  if (o.cut_short) out << " (search stopped at " << kMaxCycles << " cycles)";
  out << "\n";
  if (o.gated + o.read_read > 0) {
    out << "lockaudit: left out (cannot deadlock as observed): " << CountOf(o.gated, "gated cycle")
        << " (every edge taken under one lock held exclusively), " << o.read_read
        << " read-read (a lock taken shared on both sides)\n";
  }
  for (const Suppression& rule : rules) {
    if (rule.matched > 0) {
      out << "lockaudit: suppression '" << rule.rule << "' (" << rule.where << ") matched "
          << CountOf(rule.matched, "cycle") << "\n";
    }
  }
}

std::string SummaryJson(const MergedGraph& graph, const IndexedGraph& indexed, const Outcome& o,
                        const std::vector<Suppression>& rules) {
  nlohmann::json used = nlohmann::json::array();
  for (const Suppression& rule : rules) {
    if (rule.matched > 0) used.push_back({{"rule", rule.rule}, {"where", rule.where}, {"matched", rule.matched}});
  }
  nlohmann::json line = {{"type", "summary"},
                         {"program", "lockaudit merge"},
                         {"findings", o.listed},
                         {"suppressed", o.suppressed},
                         {"locks", indexed.names.size()},
                         {"edges", graph.edges.size()},
                         {"runs", graph.runs.size()},
                         {"cross_run", o.cross_run},
                         {"left_out", {{"gated", o.gated}, {"read_read", o.read_read}}},
                         {"skipped_edges", graph.skipped_edges}};
  if (!used.empty()) line["suppressions"] = used;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

int MergeMain(const Args& args) {
  if (WantsHelp(args)) {
    std::cout << kMergeHelp;
    return 0;
  }
  std::vector<std::string> files;
  std::vector<Suppression> rules;
  bool jsonl = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.starts_with("--suppressions")) {
      std::optional<std::string> value = OptionValue(args, i, "--suppressions");
      if (!value || value->empty()) {
        std::cerr << "lockaudit: merge: --suppressions: expected a file\n";
        return 2;
      }
      if (!LoadSuppressions(*value, rules)) return 2;
    } else if (arg.starts_with("--format")) {
      std::optional<std::string> value = OptionValue(args, i, "--format");
      if (!value || (*value != "text" && *value != "jsonl")) {
        std::cerr << "lockaudit: merge: --format: expected text or jsonl\n";
        return 2;
      }
      jsonl = *value == "jsonl";
    } else if (arg.starts_with("-") && arg != "-") {
      std::cerr << "lockaudit: merge: unexpected option '" << arg << "'; see 'lockaudit merge --help'\n";
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << "lockaudit: merge: no report files given; see 'lockaudit merge --help'\n";
    return 2;
  }
  MergedGraph graph;
  for (const std::string& path : files) {
    std::optional<Report> report = ReadReport(path, std::cerr);
    if (!report) return 2;
    AddReport(*report, graph);
  }
  const IndexedGraph indexed = IndexLocks(graph);
  if (jsonl) {
    const Outcome o = ReportCycles(graph, indexed, rules, true, std::cout);
    std::cout << SummaryJson(graph, indexed, o, rules) << "\n";
    PrintOutcome(o, rules, std::cerr);  // the JSON Lines on stdout stay clean
    return o.listed > 0 ? 1 : 0;
  }
  PrintHeader(graph, indexed, files.size(), std::cout);
  const Outcome o = ReportCycles(graph, indexed, rules, false, std::cout);
  PrintOutcome(o, rules, std::cout);
  return o.listed > 0 ? 1 : 0;
}

}  // namespace lockaudit::cli
