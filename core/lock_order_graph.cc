#include "lock_order_graph.h"

#include <algorithm>
#include <deque>

namespace lockaudit::core {

LockOrderGraph::NodeData& LockOrderGraph::Ensure(Node x) {
  if (x >= nodes_.size()) {
    nodes_.resize(std::max<size_t>(x + 1, nodes_.size() * 2));
    visited_.resize(nodes_.size(), 0);
  }
  NodeData& n = nodes_[x];
  if (!n.present) {
    n.present = true;
    n.rank = next_rank_++;
  }
  return n;
}

void LockOrderGraph::Erase(std::vector<Node>& v, Node x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it != v.end()) {
    *it = v.back();
    v.pop_back();
  }
}

bool LockOrderGraph::HasEdge(Node x, Node y) const {
  if (x >= nodes_.size() || !nodes_[x].present) return false;
  const NodeData& n = nodes_[x];
  return std::find(n.out.begin(), n.out.end(), y) != n.out.end() ||
         std::find(n.back_out.begin(), n.back_out.end(), y) != n.back_out.end();
}

bool LockOrderGraph::IsBackEdge(Node x, Node y) const {
  if (x >= nodes_.size()) return false;
  const auto& b = nodes_[x].back_out;
  return std::find(b.begin(), b.end(), y) != b.end();
}

bool LockOrderGraph::InsertEdge(Node x, Node y, bool* closes_cycle, bool known_absent) {
  *closes_cycle = false;
  Ensure(x);
  Ensure(y);
  if (!known_absent && HasEdge(x, y)) return false;
  ++edge_count_;
  NodeData& nx = nodes_[x];
  NodeData& ny = nodes_[y];
  if (x == y) {
    *closes_cycle = true;
    nx.back_out.push_back(y);
    ny.back_in.push_back(x);
    ++back_edges_;
    return true;
  }
  if (nx.rank < ny.rank) {
    nx.out.push_back(y);
    ny.in.push_back(x);
    return true;
  }
  // Pearce-Kelly: the affected region is ranks in [rank(y), rank(x)].
  ++visit_epoch_;
  deltaf_.clear();
  if (!ForwardDfs(y, nx.rank, x)) {
    *closes_cycle = true;
    nx.back_out.push_back(y);
    ny.back_in.push_back(x);
    ++back_edges_;
    return true;
  }
  deltab_.clear();
  BackwardDfs(x, ny.rank);
  Reorder();
  nodes_[x].out.push_back(y);
  nodes_[y].in.push_back(x);
  return true;
}

// Visits DAG successors of n with rank < upper_bound; false when `target` is reachable.
bool LockOrderGraph::ForwardDfs(Node n, int64_t upper_bound, Node target) {
  stack_.clear();
  stack_.push_back(n);
  while (!stack_.empty()) {
    Node cur = stack_.back();
    stack_.pop_back();
    if (visited_[cur] == visit_epoch_) continue;
    visited_[cur] = visit_epoch_;
    deltaf_.push_back(cur);
    for (Node s : nodes_[cur].out) {
      if (s == target) return false;
      if (visited_[s] != visit_epoch_ && nodes_[s].rank < upper_bound) stack_.push_back(s);
    }
  }
  return true;
}

void LockOrderGraph::BackwardDfs(Node n, int64_t lower_bound) {
  stack_.clear();
  stack_.push_back(n);
  while (!stack_.empty()) {
    Node cur = stack_.back();
    stack_.pop_back();
    if (visited_[cur] == visit_epoch_) continue;
    visited_[cur] = visit_epoch_;
    deltab_.push_back(cur);
    for (Node p : nodes_[cur].in) {
      if (visited_[p] != visit_epoch_ && nodes_[p].rank > lower_bound) stack_.push_back(p);
    }
  }
}

// Gives the nodes that must precede (deltab) the lowest ranks of the region, then deltaf.
void LockOrderGraph::Reorder() {
  auto by_rank = [this](Node a, Node b) { return nodes_[a].rank < nodes_[b].rank; };
  std::sort(deltab_.begin(), deltab_.end(), by_rank);
  std::sort(deltaf_.begin(), deltaf_.end(), by_rank);
  std::vector<int64_t> ranks;
  ranks.reserve(deltab_.size() + deltaf_.size());
  for (Node n : deltab_) ranks.push_back(nodes_[n].rank);
  for (Node n : deltaf_) ranks.push_back(nodes_[n].rank);
  std::sort(ranks.begin(), ranks.end());
  size_t i = 0;
  for (Node n : deltab_) nodes_[n].rank = ranks[i++];
  for (Node n : deltaf_) nodes_[n].rank = ranks[i++];
}

void LockOrderGraph::RemoveNode(Node x) {
  if (x >= nodes_.size() || !nodes_[x].present) return;
  NodeData& n = nodes_[x];
  // Count first: a self edge x->x sits in both n.back_out and n.back_in, and the loops below
  // erase it from n.back_in.
  size_t self = std::count(n.back_out.begin(), n.back_out.end(), x);
  edge_count_ -= n.out.size() + n.in.size() + n.back_out.size() + n.back_in.size() - self;
  back_edges_ -= n.back_out.size() + n.back_in.size() - self;
  for (Node s : n.out) Erase(nodes_[s].in, x);
  for (Node p : n.in) Erase(nodes_[p].out, x);
  for (Node s : n.back_out) Erase(nodes_[s].back_in, x);
  for (Node p : n.back_in) Erase(nodes_[p].back_out, x);
  n = NodeData();
}

std::vector<LockOrderGraph::Node> LockOrderGraph::Successors(Node x) const {
  std::vector<Node> r;
  if (x >= nodes_.size()) return r;
  r = nodes_[x].out;
  r.insert(r.end(), nodes_[x].back_out.begin(), nodes_[x].back_out.end());
  return r;
}

std::vector<LockOrderGraph::Node> LockOrderGraph::Predecessors(Node x) const {
  std::vector<Node> r;
  if (x >= nodes_.size()) return r;
  r = nodes_[x].in;
  r.insert(r.end(), nodes_[x].back_in.begin(), nodes_[x].back_in.end());
  return r;
}

std::vector<LockOrderGraph::Node> LockOrderGraph::FindCycle(
    Node x, Node y, const std::function<EdgeProps(Node, Node)>& props,
    size_t max_visits) const {
  const EdgeProps first = props(x, y);
  // Gates of x->y we still have to "break" (find an edge on the path without them); the first
  // kMaxGates are tracked exactly, which covers every realistic gate set.
  const size_t ngates = std::min<size_t>(first.ngates, kMaxGates);
  const uint32_t all = (1u << ngates) - 1;
  auto Broken = [&](const EdgeProps& p) {
    uint32_t m = 0;
    for (size_t g = 0; g < ngates; ++g) {
      if (!std::binary_search(p.gates, p.gates + p.ngates, first.gates[g])) m |= 1u << g;
    }
    return m;
  };
  constexpr uint8_t kSharedOnly = 2;
  // State: (node, broken-gate mask, arrived by a shared-only request).
  struct State {
    Node node;
    uint32_t mask;
    bool ro;
  };
  auto Key = [](const State& s) {
    return (static_cast<uint64_t>(s.node) << 10) | (static_cast<uint64_t>(s.mask) << 1) | s.ro;
  };
  std::unordered_map<uint64_t, uint64_t> parent;  // state key -> previous state key
  std::deque<State> queue;
  State start{y, 0, first.to_modes == kSharedOnly};
  parent[Key(start)] = UINT64_MAX;
  queue.push_back(start);
  while (!queue.empty() && parent.size() < max_visits) {
    State s = queue.front();
    queue.pop_front();
    if (s.node == x && s.mask == all &&
        !(s.ro && first.from_modes == kSharedOnly)) {
      std::vector<Node> path;  // y ... x, reversed below
      for (uint64_t k = Key(s); k != UINT64_MAX; k = parent[k]) path.push_back(static_cast<Node>(k >> 10));
      std::reverse(path.begin(), path.end());
      std::vector<Node> cycle;
      cycle.push_back(x);
      cycle.insert(cycle.end(), path.begin(), path.end() - 1);
      return cycle;
    }
    if (s.node == x) continue;  // a cycle must pass x only at its end
    if (s.node >= nodes_.size()) continue;
    for (Node next : Successors(s.node)) {
      const EdgeProps p = props(s.node, next);
      if (s.ro && p.from_modes == kSharedOnly) continue;
      State n{next, s.mask | Broken(p), p.to_modes == kSharedOnly};
      uint64_t k = Key(n);
      if (parent.emplace(k, Key(s)).second) queue.push_back(n);
    }
  }
  return {};
}

bool LockOrderGraph::CheckInvariants() const {
  size_t edges = 0, back = 0;
  for (Node x = 0; x < nodes_.size(); ++x) {
    const NodeData& n = nodes_[x];
    if (!n.present) {
      if (!n.out.empty() || !n.in.empty() || !n.back_out.empty() || !n.back_in.empty()) return false;
      continue;
    }
    for (Node s : n.out) {
      if (!nodes_[s].present || n.rank >= nodes_[s].rank) return false;
      const auto& in = nodes_[s].in;
      if (std::find(in.begin(), in.end(), x) == in.end()) return false;
      if (IsBackEdge(x, s)) return false;
      ++edges;
    }
    for (Node s : n.back_out) {
      const auto& in = nodes_[s].back_in;
      if (std::find(in.begin(), in.end(), x) == in.end()) return false;
      ++edges;
      ++back;
    }
    for (Node p : n.in) {
      const auto& out = nodes_[p].out;
      if (std::find(out.begin(), out.end(), x) == out.end()) return false;
    }
  }
  return edges == edge_count_ && back == back_edges_;
}

}  // namespace lockaudit::core
