// LockOrderGraph records "B was acquired while A was held" edges and finds the cycle a new
// edge closes.
//
// Edges that keep the graph acyclic live in a DAG whose topological order is maintained
// incrementally (Pearce & Kelly 2006, as in Abseil's GraphCycles): inserting x->y with
// rank(x) < rank(y) costs O(1); otherwise only nodes whose rank lies between the two ends are
// visited and re-ranked. An edge that would close a cycle is kept as a *back edge* (it is real
// evidence) outside the DAG; cycle searches walk DAG and back edges together.
// A node gets its rank when its first edge is added: below every rank as that edge's `from`,
// above every rank as its `to`, so that the edge agrees with the order (a lock's first edges
// then need no reorder).
//
// Thread-safety: two modes, chosen by the owner (the lock-order detector, lock_order.h):
//  - exclusive: every method but TryInsertOrdered, with no other call running;
//  - shared: only TryInsertOrdered (and BackEdgeCount), from any number of threads at once,
//    with no exclusive call running. It adds an edge that agrees with the current order (no
//    rank changes, so no reorder and no cycle), under a per-node spin flag for the node's
//    adjacency; an edge that needs a reorder is refused and left to the exclusive mode.
// Nodes live in chunks that never move (a node's address is stable), so the shared mode never
// sees storage grow under it.
// Invariants (CheckInvariants(), tests only): every DAG edge x->y has rank(x) < rank(y); every
// edge is in exactly one of the DAG and back-edge sets and in both adjacency directions.
// Cost: O(1) for a known edge; a new edge reorders only the nodes between its ends; cycle
// search (only for new or changed edges that close a cycle) is a bounded BFS.
#ifndef LOCKAUDIT_CORE_LOCK_ORDER_GRAPH_H_
#define LOCKAUDIT_CORE_LOCK_ORDER_GRAPH_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace lockaudit::core {

class LockOrderGraph {
 public:
  using Node = uint32_t;

  LockOrderGraph() = default;
  ~LockOrderGraph();
  // A copy (exclusive mode; benchmarks start each round from one graph).
  LockOrderGraph(const LockOrderGraph& other) { *this = other; }
  LockOrderGraph& operator=(const LockOrderGraph& other);

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

  // Shared mode (see above): adds x->y when it agrees with the order, giving a node without
  // edges the rank that makes it agree; returns false, changing nothing but such a rank, when
  // it does not (a reorder, or a cycle: the caller calls InsertEdge in the exclusive mode).
  // The caller knows the edge is absent (its edge table says so).
  bool TryInsertOrdered(Node x, Node y);

  // Makes the first chunk of nodes now (at load: a program's first edge would otherwise pay
  // its page faults while it holds a lock). Exclusive mode.
  void Reserve() { At(0); }
  size_t EdgeCount() const;  // exclusive mode; O(nodes) (tests and benchmarks)
  size_t BackEdgeCount() const { return back_edges_; }
  std::vector<Node> Successors(Node x) const;    // DAG and back edges
  std::vector<Node> Predecessors(Node x) const;  // DAG and back edges
  bool CheckInvariants() const;                // tests only: O(V+E)

 private:
  // A node's adjacency in one direction: a growable array of node numbers in 16 bytes (a
  // std::vector takes 24). Room for kFirstAdjacency at the first entry (most locks have a few
  // edges; growing 1, 2, 4 cost an allocation per edge or so), then doubling. Unordered.
  class NodeList {
   public:
    NodeList() = default;
    ~NodeList() { delete[] data_; }
    NodeList(const NodeList&) = delete;
    NodeList& operator=(const NodeList& other);
    const Node* begin() const { return data_; }
    const Node* end() const { return data_ + size_; }
    uint32_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    bool Contains(Node x) const;
    uint32_t Count(Node x) const;
    void Append(Node x);
    void Erase(Node x);  // one entry x, if any (the last entry takes its place)
    void Release();      // empty, its memory freed

   private:
    Node* data_ = nullptr;
    uint32_t size_ = 0, capacity_ = 0;
  };
  // The back edges of a node, out of line: most nodes never have one (exclusive mode only).
  struct BackLists {
    NodeList out, in;
  };
  struct NodeData {
    std::atomic<int64_t> rank{0};      // set once present; changed by a reorder (exclusive)
    std::atomic<bool> present{false};  // has (or had, until RemoveNode) an edge
    std::atomic<bool> busy{false};     // shared mode: held while out/in or the rank change
    uint32_t visited = 0;              // exclusive: the reorder's visit epoch
    NodeList out, in;                  // DAG edges
    BackLists* back = nullptr;         // back edges; null while it has none (RemoveNode frees)
    NodeData() = default;
    ~NodeData() { delete back; }
    NodeData(const NodeData&) = delete;
    NodeData& operator=(const NodeData&) = delete;
    const NodeList& BackOut() const { return back != nullptr ? back->out : kNoNodes; }
    const NodeList& BackIn() const { return back != nullptr ? back->in : kNoNodes; }
    BackLists& Back() {
      if (back == nullptr) back = new BackLists;
      return *back;
    }
  };
  static_assert(sizeof(NodeData) <= 56, "a graph node: see docs/internals.md");
  static const NodeList kNoNodes;
  static constexpr uint32_t kChunkBits = 10;
  static constexpr uint32_t kChunkNodes = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 4096;  // 4M nodes, as the lock registry
  enum class Side { kFrom, kTo };

  // The node, or null when its chunk was never made (no edge ever touched it).
  NodeData* Find(Node x) const {
    const uint32_t c = x >> kChunkBits;
    if (c >= kMaxChunks) return nullptr;
    NodeData* chunk = chunks_[c].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : chunk + (x & (kChunkNodes - 1));
  }
  // The node, its chunk made if needed (any mode: the chunk is published with a CAS); null
  // only past kMaxChunks or out of memory.
  NodeData* At(Node x);
  NodeData& N(Node x) const { return *Find(x); }  // a node known to exist
  int64_t Rank(Node x) const { return N(x).rank.load(std::memory_order_relaxed); }
  // Makes x present with a fresh rank for its side of its first edge. Exclusive mode.
  NodeData& Ensure(Node x, Side side);
  int64_t FreshRank(Side side) {
    return side == Side::kFrom ? low_rank_.fetch_sub(1, std::memory_order_relaxed) - 1
                               : next_rank_.fetch_add(1, std::memory_order_relaxed);
  }
  bool ForwardDfs(Node n, int64_t upper_bound, Node target);
  void BackwardDfs(Node n, int64_t lower_bound);
  void Reorder();
  static constexpr uint32_t kFirstAdjacency = 4;
  struct Busy {  // the shared mode's per-node flag
    explicit Busy(NodeData& n);
    ~Busy() { n_.busy.store(false, std::memory_order_release); }
    NodeData& n_;
  };

  std::atomic<NodeData*> chunks_[kMaxChunks] = {};
  std::atomic<int64_t> next_rank_{0};  // the next rank above all (a `to` side)
  std::atomic<int64_t> low_rank_{0};   // the lowest rank given so far (a `from` side)
  size_t back_edges_ = 0;              // exclusive mode only
  // Scratch for the Pearce-Kelly reorder.
  std::vector<Node> deltaf_, deltab_, stack_;
  uint32_t visit_epoch_ = 0;
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_LOCK_ORDER_GRAPH_H_
