// lockaudit/cli/dot_graph: rebuilds the lock-order graph from edge lines and cycle findings, then
// writes it as DOT.
#include "dot_graph.h"

#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "text_format.h"

namespace lockaudit::cli {
namespace {

using Pid = std::optional<int64_t>;

struct Node {
  Pid pid;
  LockInfo lock;
  bool in_cycle = false;
};

struct Edge {
  size_t from = 0;
  size_t to = 0;
  std::string tooltip;
  bool in_cycle = false;
  std::optional<size_t> finding;  // the first cycle finding (index in the report) it is part of
};

// The edges of all lock_order_cycle findings, by (pid, from id, to id) and by (from name, to name).
class CycleEdges {
 public:
  explicit CycleEdges(const Report& report) {
    for (const Finding& finding : report.findings) {
      if (finding.kind != kLockOrderCycle) continue;
      for (const FindingEdge& edge : finding.edges) {
        Add(finding.pid, FindLock(finding, edge.from), FindLock(finding, edge.to));
      }
    }
  }

  bool Contains(Pid pid, const LockInfo& from, const LockInfo& to) const {
    if (from.id && to.id && by_id_.contains({pid, *from.id, *to.id})) return true;
    return !from.name.empty() && !to.name.empty() && by_name_.contains({from.name, to.name});
  }

 private:
  void Add(Pid pid, const LockInfo& from, const LockInfo& to) {
    if (from.id && to.id) by_id_.insert({pid, *from.id, *to.id});
    if (!from.name.empty() && !to.name.empty()) by_name_.insert({from.name, to.name});
  }

  std::set<std::tuple<Pid, int64_t, int64_t>> by_id_;
  std::set<std::pair<std::string, std::string>> by_name_;
};

// The graph being rebuilt. A lock is one node per pid, keyed by its id (by name and address
// when the id is missing); an edge appears once however often it is added.
class LockGraph {
 public:
  size_t AddNode(Pid pid, const LockInfo& lock) {
    const std::string key = NodeKey(pid, lock);
    auto [it, inserted] = node_index_.try_emplace(key, nodes_.size());
    if (inserted) nodes_.push_back(Node{.pid = pid, .lock = lock});
    return it->second;
  }

  void AddEdge(size_t from, size_t to, std::string tooltip, bool in_cycle,
               std::optional<size_t> finding = std::nullopt) {
    auto [it, inserted] = edge_index_.try_emplace({from, to}, edges_.size());
    if (inserted) edges_.push_back(Edge{.from = from, .to = to, .tooltip = std::move(tooltip)});
    Edge& edge = edges_[it->second];
    edge.in_cycle = edge.in_cycle || in_cycle;
    if (!edge.finding) edge.finding = finding;
    if (in_cycle) nodes_[from].in_cycle = nodes_[to].in_cycle = true;
  }

  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Edge>& edges() const { return edges_; }

 private:
  static std::string NodeKey(Pid pid, const LockInfo& lock) {
    const std::string process = pid ? std::to_string(*pid) : "?";
    if (lock.id) return process + "/#" + std::to_string(*lock.id);
    return process + "/" + lock.name + "@" + lock.addr;
  }

  std::map<std::string, size_t> node_index_;
  std::map<std::pair<size_t, size_t>, size_t> edge_index_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
};

// "b_mu acquired at f() x.cc:3 while a_mu was held (thread worker-1 tid 7)".
std::string Tooltip(const LockInfo& from, const LockInfo& to, const ThreadInfo& thread,
                    const Stack& stack) {
  std::string text = LockDisplayName(to) + " acquired";
  if (!stack.empty()) text += " at " + FormatFrame(stack.front());
  return text + " while " + LockDisplayName(from) + " was held (thread " + FormatThread(thread) +
         ")";
}

LockGraph BuildGraph(const Report& report) {
  const CycleEdges cycle_edges(report);
  LockGraph graph;
  for (const EdgeRecord& edge : report.edges) {
    const size_t from = graph.AddNode(edge.pid, edge.from);
    const size_t to = graph.AddNode(edge.pid, edge.to);
    graph.AddEdge(from, to, Tooltip(edge.from, edge.to, edge.thread, edge.stack),
                  cycle_edges.Contains(edge.pid, edge.from, edge.to));
  }
  for (size_t i = 0; i < report.findings.size(); ++i) {
    const Finding& finding = report.findings[i];
    if (finding.kind != kLockOrderCycle) continue;
    for (const FindingEdge& edge : finding.edges) {
      const LockInfo from = FindLock(finding, edge.from);
      const LockInfo to = FindLock(finding, edge.to);
      const size_t from_node = graph.AddNode(finding.pid, from);
      const size_t to_node = graph.AddNode(finding.pid, to);
      graph.AddEdge(from_node, to_node, Tooltip(from, to, edge.thread, edge.stack),
                    /*in_cycle=*/true, i);
    }
  }
  return graph;
}

// `text` as a DOT double-quoted string.
std::string Quote(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c == '\n' ? ' ' : c;
  }
  return quoted + "\"";
}

std::string NodeLabel(const LockInfo& lock) {
  std::string label = LockDisplayName(lock);
  if (lock.level) label += " (level " + std::to_string(*lock.level) + ")";
  return label;
}

void WriteNode(const std::vector<Node>& nodes, size_t index, std::string_view indent,
               std::ostream& out) {
  const Node& node = nodes[index];
  out << indent << "n" << index << " [label=" << Quote(NodeLabel(node.lock));
  if (node.in_cycle) out << ", color=red, fontcolor=red, penwidth=2";
  out << "];\n";
}

// Nodes, in a "pid N" cluster per process when there are several processes.
void WriteNodes(const LockGraph& graph, std::ostream& out) {
  std::map<Pid, std::vector<size_t>> by_pid;
  for (size_t i = 0; i < graph.nodes().size(); ++i) by_pid[graph.nodes()[i].pid].push_back(i);
  const bool clustered = by_pid.size() > 1;
  size_t cluster = 0;
  for (const auto& [pid, indices] : by_pid) {
    if (clustered) {
      out << "  subgraph cluster_" << cluster++ << " {\n    label="
          << Quote(pid ? "pid " + std::to_string(*pid) : "pid unknown") << ";\n";
    }
    for (size_t index : indices) WriteNode(graph.nodes(), index, clustered ? "    " : "  ", out);
    if (clustered) out << "  }\n";
  }
}

void WriteEdges(const LockGraph& graph, bool links, std::ostream& out) {
  for (const Edge& edge : graph.edges()) {
    out << "  n" << edge.from << " -> n" << edge.to << " [tooltip=" << Quote(edge.tooltip);
    if (edge.in_cycle) out << ", color=red, style=bold, penwidth=2";
    if (links && edge.finding) {
      out << ", URL=\"#finding-" << *edge.finding << "\", target=\"_self\", class=\"cycle-edge\"";
    }
    out << "];\n";
  }
}

}  // namespace

std::string BuildLockOrderDot(const Report& report, bool links) {
  const LockGraph graph = BuildGraph(report);
  std::ostringstream out;
  out << "// lockaudit lock-order graph: A -> B means B was acquired while A was held.\n"
         "// Red, bold edges belong to a lock_order_cycle finding (a potential deadlock).\n"
         "digraph lock_order {\n"
         "  rankdir=LR;\n"
         "  node [shape=box, fontname=\"monospace\"];\n";
  WriteNodes(graph, out);
  WriteEdges(graph, links, out);
  out << "}\n";
  return out.str();
}

}  // namespace lockaudit::cli
