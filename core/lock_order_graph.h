// LockOrderGraph records "B was acquired while A was held" edges and finds the cycle a new
// edge closes.
//
// Edges that keep the graph acyclic live in a DAG whose topological order is maintained
// incrementally (Pearce & Kelly 2006, as in Abseil's GraphCycles): inserting x->y with
// rank(x) < rank(y) costs O(1); otherwise only nodes whose rank lies between the two ends are
// visited and re-ranked. An edge that would close a cycle is kept as a *back edge* (it is real
// evidence) outside the DAG; cycle searches walk DAG and back edges together.
//
// Thread-safety: none; the lock-order detector (lock_order.h) serialises every call with its mutex.
// Invariants (CheckInvariants(), tests only): every DAG edge x->y has rank(x) < rank(y); every
// edge is in exactly one of the DAG and back-edge sets and in both adjacency directions.
// Cost: O(1) for a known edge; a new edge reorders only the nodes between its ends; cycle
// search (only for new or changed edges that close a cycle) is a bounded BFS.
#ifndef LOCKAUDIT_CORE_LOCK_ORDER_GRAPH_H_
#define LOCKAUDIT_CORE_LOCK_ORDER_GRAPH_H_

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace lockaudit::core {

class LockOrderGraph {
 public:
  using Node = uint32_t;

  // Per-edge predicate used by cycle searches: given the edge and the search state, may the
  // path continue over it? See FindCycle().
  // Gates tracked per edge and per search (an edge's record keeps at most this many).
  static constexpr uint32_t kMaxGates = 8;
  struct EdgeProps {
    const uint64_t* gates = nullptr;  // sorted; the caller's storage
    uint32_t ngates = 0;
    uint8_t from_modes = 0;  // bit0 exclusive, bit1 shared: how `from` was held
    uint8_t to_modes = 0;    // how `to` was requested; bit2: shared, but queued behind
                             // writers (a writer-preferring rwlock): readers can block it
  };

  // Adds x->y. Returns true if the edge is new. `*closes_cycle` tells whether it went to the
  // back-edge set because a path y->...->x exists. `known_absent`: the caller knows the edge is
  // not in the graph (its own edge table says so), which skips the O(out-degree) check.
  bool InsertEdge(Node x, Node y, bool* closes_cycle, bool known_absent = false);
  bool HasEdge(Node x, Node y) const;
  bool IsBackEdge(Node x, Node y) const;
  // Removes every edge into and out of x.
  void RemoveNode(Node x);

  // Finds a shortest cycle through x->y (a path y->...->x over all edges) such that
  //  - not all of its edges share a common gate (a lock held around every edge), and
  //  - at no lock both the incoming edge requested it shared and the outgoing edge held it
  //    shared (two readers do not block each other).
  // `props(a,b)` gives an edge's properties. Returns the nodes [x, y, ..., x's predecessor], or
  // an empty vector. Visits at most `max_visits` search states. The first kMaxGates gates of
  // x->y are tracked.
  std::vector<Node> FindCycle(Node x, Node y,
                              const std::function<EdgeProps(Node, Node)>& props,
                              size_t max_visits = 1u << 20) const;

  size_t EdgeCount() const { return edge_count_; }
  size_t BackEdgeCount() const { return back_edges_; }
  std::vector<Node> Successors(Node x) const;    // DAG and back edges
  std::vector<Node> Predecessors(Node x) const;  // DAG and back edges
  bool CheckInvariants() const;                // tests only: O(V+E)

 private:
  struct NodeData {
    int64_t rank = 0;
    bool present = false;
    std::vector<Node> out, in;             // DAG edges
    std::vector<Node> back_out, back_in;   // back edges
  };
  NodeData& Ensure(Node x);
  bool ForwardDfs(Node n, int64_t upper_bound, Node target);
  void BackwardDfs(Node n, int64_t lower_bound);
  void Reorder();
  static void Erase(std::vector<Node>& v, Node x);

  std::vector<NodeData> nodes_;
  int64_t next_rank_ = 0;
  size_t edge_count_ = 0;
  size_t back_edges_ = 0;
  // Scratch for the Pearce-Kelly reorder.
  std::vector<Node> deltaf_, deltab_, stack_;
  std::vector<uint32_t> visited_;
  uint32_t visit_epoch_ = 0;
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_LOCK_ORDER_GRAPH_H_
