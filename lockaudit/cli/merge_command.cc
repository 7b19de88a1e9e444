// lockaudit/cli/merge_command: `lockaudit merge A.jsonl B.jsonl ...` joins the lock-order graphs
// recorded by several runs, keyed by lock name, and lists every elementary cycle of the union,
// marking those no single run saw complete ("cross-run").
#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "commands.h"
#include "cycles.h"
#include "report_reader.h"
#include "text_format.h"

namespace lockaudit::cli {
namespace {

constexpr std::string_view kMergeHelp = R"(usage: lockaudit merge A.jsonl B.jsonl ...

Joins the "edge" lines of the JSON Lines reports of several runs of the same
program into one lock-order graph and prints every cycle in it, with the file,
process (pid), thread and acquisition site each of its edges was seen at. A
cycle whose edges were never all seen by one run is marked "cross-run": each
run took only part of the lock order, so none of them reported it, but
together they show a potential deadlock.

Locks are matched by NAME across runs (addresses and ids differ between
processes); edges whose locks have no name, or only an address ("0x..."), are
skipped and counted. Name your locks (lockaudit::mutex, lockaudit_set_name) or
rely on the names of static objects to merge them.

exit status: 0 if the merged graph has no cycle; 1 if it has at least one;
2 if a file cannot be read, or for a usage error.
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
  Stack stack;  // where the `to` lock was acquired
};

// The union of the named edges of all runs. Invariant: an edge holds at most one Sighting per run.
struct MergedGraph {
  std::vector<Run> runs;
  std::map<LockPair, std::vector<Sighting>> edges;
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
    std::vector<Sighting>& sightings = graph.edges[{edge.from.name, edge.to.name}];
    const bool seen = std::any_of(sightings.begin(), sightings.end(),
                                  [run](const Sighting& s) { return s.run == run; });
    if (!seen) {
      sightings.push_back(Sighting{.run = run, .thread = edge.thread, .stack = edge.stack});
    }
  }
}

// The merged graph as adjacency lists over lock names sorted alphabetically.
struct IndexedGraph {
  std::vector<std::string> names{};
  std::vector<std::vector<size_t>> successors{};
};

IndexedGraph IndexLocks(const MergedGraph& graph) {
  std::set<std::string> names;
  for (const auto& [locks, sightings] : graph.edges) names.insert({locks.first, locks.second});
  IndexedGraph indexed{.names = {names.begin(), names.end()}};
  indexed.successors.resize(indexed.names.size());
  auto index_of = [&indexed](const std::string& name) {
    return static_cast<size_t>(std::lower_bound(indexed.names.begin(), indexed.names.end(), name) -
                               indexed.names.begin());
  };
  for (const auto& [locks, sightings] : graph.edges) {
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
      const std::vector<Sighting>& sightings = graph.edges.at(edge);
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
  const std::vector<Sighting>& sightings = graph.edges.at(edge);
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

// Prints one cycle; returns whether it is cross-run.
bool PrintCycle(const MergedGraph& graph, const IndexedGraph& indexed, const Cycle& cycle,
                size_t number, std::ostream& out) {
  const std::vector<LockPair> edges = CycleEdges(indexed, cycle);
  const bool cross_run = IsCrossRun(graph, edges);
  out << "cycle " << number << (cross_run ? " (cross-run)" : " (within one run)") << ": ";
  for (const LockPair& edge : edges) out << edge.first << " -> ";
  out << edges.front().first << "\n";
  for (const LockPair& edge : edges) PrintEdge(graph, edge, out);
  return cross_run;
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

int PrintCycles(const MergedGraph& graph, const IndexedGraph& indexed, std::ostream& out) {
  const std::vector<Cycle> cycles = FindElementaryCycles(indexed.successors, kMaxCycles);
  size_t cross_run = 0;
  for (size_t i = 0; i < cycles.size(); ++i) {
    cross_run += PrintCycle(graph, indexed, cycles[i], i + 1, out) ? 1 : 0;
  }
  if (cycles.empty()) {
    out << "lockaudit: no lock-order cycle\n";
    return 0;
  }
  out << "lockaudit: " << CountOf(cycles.size(), "cycle") << ", " << cross_run << " cross-run";
  if (cycles.size() == kMaxCycles) out << " (listing stopped at " << kMaxCycles << ")";
  out << "\n";
  return 1;
}

}  // namespace

int MergeMain(const Args& args) {
  if (WantsHelp(args)) {
    std::cout << kMergeHelp;
    return 0;
  }
  if (args.empty()) {
    std::cerr << "lockaudit: merge: no report files given; see 'lockaudit merge --help'\n";
    return 2;
  }
  MergedGraph graph;
  for (const std::string& path : args) {
    std::optional<Report> report = ReadReport(path, std::cerr);
    if (!report) return 2;
    AddReport(*report, graph);
  }
  const IndexedGraph indexed = IndexLocks(graph);
  PrintHeader(graph, indexed, args.size(), std::cout);
  return PrintCycles(graph, indexed, std::cout);
}

}  // namespace lockaudit::cli
