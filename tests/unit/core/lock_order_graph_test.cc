// Tests for LockOrderGraph: random graphs checked against a brute-force reachability oracle after
// every mutation, plus hand-built cycles for FindCycle's gate and shared-mode rules.
#include "lock_order_graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace lockaudit::core {
namespace {

using Node = LockOrderGraph::Node;
using EdgeProps = LockOrderGraph::EdgeProps;

// The oracle: plain adjacency sets, searched exhaustively.
//
// InsertEdge keeps an edge out of the DAG (as a back edge, *closes_cycle = true) iff x == y or y
// already reaches x over *DAG* edges: Pearce-Kelly only walks the DAG. A cycle that needs an
// earlier back edge does not make the new edge a back edge (the tracker runs FindCycle whenever
// any back edge exists). So the oracle keeps two graphs: every edge, and the DAG edges alone.
class Oracle {
 public:
  explicit Oracle(size_t n) : all_(n), dag_(n) {}

  bool Has(Node x, Node y) const { return all_[x].count(y) != 0; }
  bool IsBack(Node x, Node y) const { return Has(x, y) && dag_[x].count(y) == 0; }
  bool ReachesAll(Node from, Node to) const { return Distance(all_, from, to) >= 0; }
  bool ReachesDag(Node from, Node to) const { return Distance(dag_, from, to) >= 0; }
  // Length of a shortest path over all edges; 0 when from == to, -1 when none.
  int DistanceAll(Node from, Node to) const { return Distance(all_, from, to); }

  void Add(Node x, Node y, bool back) {
    all_[x].insert(y);
    if (!back) dag_[x].insert(y);
  }
  void RemoveNode(Node x) {
    for (auto* g : {&all_, &dag_}) {
      (*g)[x].clear();
      for (auto& out : *g) out.erase(x);
    }
  }
  size_t EdgeCount() const { return Count(all_); }
  size_t BackEdgeCount() const { return Count(all_) - Count(dag_); }
  std::set<Node> Successors(Node x) const { return all_[x]; }

 private:
  using Adj = std::vector<std::set<Node>>;
  static int Distance(const Adj& g, Node from, Node to) {
    if (from == to) return 0;
    std::vector<int> dist(g.size(), -1);
    std::deque<Node> queue{from};
    dist[from] = 0;
    while (!queue.empty()) {
      Node n = queue.front();
      queue.pop_front();
      for (Node s : g[n]) {
        if (dist[s] >= 0) continue;
        dist[s] = dist[n] + 1;
        if (s == to) return dist[s];
        queue.push_back(s);
      }
    }
    return -1;
  }
  static size_t Count(const Adj& g) {
    size_t c = 0;
    for (const auto& out : g) c += out.size();
    return c;
  }
  Adj all_, dag_;
};

EdgeProps NoProps(Node, Node) { return EdgeProps{}; }

// Checks that `cycle` (as FindCycle returns it for the edge x->y) is a real closed walk in `g`
// that starts with x, y.
void ExpectValidCycle(const LockOrderGraph& g, Node x, Node y, const std::vector<Node>& cycle) {
  ASSERT_FALSE(cycle.empty());
  EXPECT_EQ(cycle.front(), x);
  if (x != y) {
    ASSERT_GE(cycle.size(), 2u);
    EXPECT_EQ(cycle[1], y);
  }
  for (size_t k = 0; k < cycle.size(); ++k) {
    Node from = cycle[k], to = cycle[(k + 1) % cycle.size()];
    EXPECT_TRUE(g.HasEdge(from, to)) << "cycle uses a missing edge " << from << "->" << to;
  }
}

struct RandomRun {
  uint32_t seed;
  Node nodes;
  int steps;
  int remove_permille;
};

// Random inserts (and removals) checked against the oracle after every single mutation.
void RunAgainstOracle(const RandomRun& run) {
  SCOPED_TRACE(::testing::Message() << "seed " << run.seed << ", " << run.nodes << " nodes");
  std::mt19937 rng(run.seed);
  std::uniform_int_distribution<Node> pick(0, run.nodes - 1);
  std::uniform_int_distribution<int> permille(0, 999);
  LockOrderGraph g;
  Oracle oracle(run.nodes);
  size_t inserted_back = 0, cycles_through_back_edges_only = 0, removals = 0;

  for (int step = 0; step < run.steps; ++step) {
    SCOPED_TRACE(::testing::Message() << "step " << step);
    if (permille(rng) < run.remove_permille) {
      Node r = pick(rng);
      g.RemoveNode(r);
      oracle.RemoveNode(r);
      ++removals;
      ASSERT_TRUE(g.CheckInvariants()) << "after RemoveNode(" << r << ")";
      for (Node k = 0; k < run.nodes; ++k) {
        ASSERT_FALSE(g.HasEdge(r, k)) << "edge " << r << "->" << k << " survived RemoveNode";
        ASSERT_FALSE(g.HasEdge(k, r)) << "edge " << k << "->" << r << " survived RemoveNode";
      }
      ASSERT_EQ(g.EdgeCount(), oracle.EdgeCount());
      ASSERT_EQ(g.BackEdgeCount(), oracle.BackEdgeCount());
      continue;
    }
    Node x = pick(rng), y = pick(rng);
    const bool exists = oracle.Has(x, y);
    const bool back = oracle.ReachesDag(y, x);  // includes x == y
    const bool cycle = oracle.ReachesAll(y, x);
    bool closes = !back;  // poisoned: InsertEdge must write it
    const bool is_new = g.InsertEdge(x, y, &closes);
    ASSERT_EQ(is_new, !exists) << x << "->" << y;
    ASSERT_TRUE(g.CheckInvariants()) << "after InsertEdge(" << x << ", " << y << ")";
    if (exists) {
      ASSERT_FALSE(closes) << "a known edge " << x << "->" << y << " reported a new cycle";
    } else {
      ASSERT_EQ(closes, back) << x << "->" << y << ": y reaches x over DAG edges: " << back;
      oracle.Add(x, y, back);
      inserted_back += back;
      cycles_through_back_edges_only += cycle && !back;
    }
    ASSERT_TRUE(g.HasEdge(x, y));
    ASSERT_EQ(g.IsBackEdge(x, y), oracle.IsBack(x, y)) << x << "->" << y;
    ASSERT_EQ(g.EdgeCount(), oracle.EdgeCount());
    ASSERT_EQ(g.BackEdgeCount(), oracle.BackEdgeCount());
    std::vector<Node> succ = g.Successors(x);
    ASSERT_EQ(std::set<Node>(succ.begin(), succ.end()), oracle.Successors(x));
    ASSERT_EQ(succ.size(), oracle.Successors(x).size()) << "duplicate successor of " << x;

    // With no gates and no modes every cycle counts: FindCycle must find one exactly when y
    // reaches x over all edges, and a shortest one.
    std::vector<Node> found = g.FindCycle(x, y, NoProps);
    if (!cycle) {
      ASSERT_TRUE(found.empty()) << x << "->" << y << " closes no cycle";
    } else {
      ExpectValidCycle(g, x, y, found);
      ASSERT_EQ(static_cast<int>(found.size()), oracle.DistanceAll(y, x) + 1)
          << x << "->" << y << ": not a shortest cycle";
    }
  }
  // The run must have exercised what it claims to check.
  EXPECT_GT(inserted_back, 0u);
  if (run.remove_permille > 0) {
    EXPECT_GT(removals, 0u);
  }
  ::testing::Test::RecordProperty("cycles_through_back_edges_only",
                 static_cast<int>(cycles_through_back_edges_only));
}

TEST(LockOrderGraphTest, SmallDenseRandomGraphsMatchOracle) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) RunAgainstOracle({seed, 50, 400, 30});
}

TEST(LockOrderGraphTest, TinyGraphsWithSelfEdgesAndRemovalsMatchOracle) {
  for (uint32_t seed = 10; seed < 30; ++seed) RunAgainstOracle({seed, 6, 80, 80});
}

TEST(LockOrderGraphTest, LargeSparseRandomGraphsMatchOracle) {
  for (uint32_t seed : {7u, 8u, 9u}) RunAgainstOracle({seed, 500, 3000, 10});
}

TEST(LockOrderGraphTest, InsertsWithoutRemovalsMatchOracle) {
  for (uint32_t seed : {11u, 12u}) RunAgainstOracle({seed, 200, 1500, 0});
}

// An order that is consistent with the current ranks is O(1); the reverse of a long chain forces
// a reorder of every node in between. Both keep the invariants and the right answers.
TEST(LockOrderGraphTest, ReordersChainInsertedBackwards) {
  LockOrderGraph g;
  bool closes = true;
  // Insert 9->10, 8->9, ..., 0->1: every insert puts a node ranked later before an earlier one.
  for (Node k = 10; k > 0; --k) {
    ASSERT_TRUE(g.InsertEdge(k - 1, k, &closes));
    EXPECT_FALSE(closes);
    ASSERT_TRUE(g.CheckInvariants());
  }
  EXPECT_EQ(g.BackEdgeCount(), 0u);
  EXPECT_TRUE(g.InsertEdge(0, 10, &closes));  // consistent shortcut
  EXPECT_FALSE(closes);
  EXPECT_TRUE(g.InsertEdge(10, 0, &closes));  // closes the 11-node loop
  EXPECT_TRUE(closes);
  EXPECT_TRUE(g.IsBackEdge(10, 0));
  EXPECT_TRUE(g.CheckInvariants());
}

// ---- FindCycle on hand-built graphs --------------------------------------------------------

// Edge properties keyed by edge; edges without an entry have no gates and unknown modes.
struct TestProps {
  std::vector<uint64_t> gates;
  uint8_t from_modes = 0, to_modes = 0;
};
class PropsMap {
 public:
  void Set(Node x, Node y, TestProps p) {
    std::sort(p.gates.begin(), p.gates.end());
    props_[{x, y}] = std::move(p);
  }
  std::function<EdgeProps(Node, Node)> Fn() const {
    return [this](Node x, Node y) -> EdgeProps {
      auto it = props_.find({x, y});
      if (it == props_.end()) return EdgeProps{};
      const TestProps& p = it->second;
      return EdgeProps{p.gates.data(), static_cast<uint32_t>(p.gates.size()), p.from_modes,
                       p.to_modes};
    };
  }

 private:
  std::map<std::pair<Node, Node>, TestProps> props_;
};

// Inserts the edges in order; returns whether the last one was reported as closing a cycle.
bool InsertAll(LockOrderGraph& g, const std::vector<std::pair<Node, Node>>& edges) {
  bool closes = false;
  for (const auto& [x, y] : edges) {
    EXPECT_TRUE(g.InsertEdge(x, y, &closes)) << x << "->" << y;
    EXPECT_TRUE(g.CheckInvariants()) << "after " << x << "->" << y;
  }
  return closes;
}

TEST(LockOrderGraphTest, FindsTwoLockCycle) {
  LockOrderGraph g;
  EXPECT_TRUE(InsertAll(g, {{7, 3}, {3, 7}}));
  EXPECT_EQ(g.FindCycle(3, 7, NoProps), (std::vector<Node>{3, 7}));
  EXPECT_EQ(g.FindCycle(7, 3, NoProps), (std::vector<Node>{7, 3}));
}

TEST(LockOrderGraphTest, FindsThreeLockCycle) {
  LockOrderGraph g;
  EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 3}, {3, 1}}));
  EXPECT_EQ(g.FindCycle(3, 1, NoProps), (std::vector<Node>{3, 1, 2}));
}

TEST(LockOrderGraphTest, FindsShortestFiveLockCycle) {
  LockOrderGraph g;
  // 10->11->12->13->14 plus a longer detour 10->20->...->24->14, then 14->10.
  EXPECT_FALSE(InsertAll(g, {{10, 20}, {20, 21}, {21, 22}, {22, 23}, {23, 24}, {24, 14}}));
  EXPECT_FALSE(InsertAll(g, {{13, 14}, {12, 13}, {11, 12}, {10, 11}}));
  EXPECT_TRUE(InsertAll(g, {{14, 10}}));
  EXPECT_EQ(g.FindCycle(14, 10, NoProps), (std::vector<Node>{14, 10, 11, 12, 13}));
}

TEST(LockOrderGraphTest, FindsNoCycleWhereNoneExists) {
  LockOrderGraph g;
  EXPECT_FALSE(InsertAll(g, {{1, 2}, {2, 3}, {1, 3}}));
  EXPECT_TRUE(g.FindCycle(1, 3, NoProps).empty());
  EXPECT_TRUE(g.FindCycle(1, 2, NoProps).empty());
}

TEST(LockOrderGraphTest, CycleWhoseEdgesAllShareAGateIsNotFound) {
  LockOrderGraph g;
  EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 3}, {3, 1}}));
  PropsMap props;
  props.Set(1, 2, {{7}, 1, 1});
  props.Set(2, 3, {{3, 7}, 1, 1});
  props.Set(3, 1, {{7, 9}, 1, 1});
  for (auto [x, y] : {std::pair<Node, Node>{3, 1}, {1, 2}, {2, 3}}) {
    EXPECT_TRUE(g.FindCycle(x, y, props.Fn()).empty()) << "gate 7 guards every edge; from " << x;
  }
}

TEST(LockOrderGraphTest, CycleWithOneUngatedEdgeIsFound) {
  LockOrderGraph g;
  EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 3}, {3, 1}}));
  PropsMap props;
  props.Set(1, 2, {{7}, 1, 1});
  props.Set(2, 3, {{3}, 1, 1});  // lacks gate 7
  props.Set(3, 1, {{7, 9}, 1, 1});
  EXPECT_EQ(g.FindCycle(3, 1, props.Fn()), (std::vector<Node>{3, 1, 2}));
  EXPECT_EQ(g.FindCycle(2, 3, props.Fn()), (std::vector<Node>{2, 3, 1}));
}

TEST(LockOrderGraphTest, GatedShortCycleGivesWayToUngatedLongerOne) {
  LockOrderGraph g;
  // 1->2->3->1 all under gate 7; the detour 2->4->3 is not.
  EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 4}, {4, 3}, {2, 3}, {3, 1}}));
  PropsMap props;
  props.Set(1, 2, {{7}, 1, 1});
  props.Set(2, 3, {{7}, 1, 1});
  props.Set(3, 1, {{7}, 1, 1});
  props.Set(2, 4, {{}, 1, 1});
  props.Set(4, 3, {{7}, 1, 1});
  EXPECT_EQ(g.FindCycle(3, 1, props.Fn()), (std::vector<Node>{3, 1, 2, 4}));
}

TEST(LockOrderGraphTest, CyclePassesTheNewEdgesSourceOnlyAtItsEnd) {
  LockOrderGraph g;
  // 1<->2 is gated by 7 everywhere; 1->3->1 is a separate, ungated cycle. The closed walk
  // 1,2,1,3 would break the gate only by passing 1 twice: it is not a cycle through 1->2.
  EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 1}}));
  EXPECT_TRUE(InsertAll(g, {{1, 3}, {3, 1}}));
  PropsMap props;
  props.Set(1, 2, {{7}, 1, 1});
  props.Set(2, 1, {{7}, 1, 1});
  EXPECT_TRUE(g.FindCycle(1, 2, props.Fn()).empty());
  EXPECT_EQ(g.FindCycle(3, 1, props.Fn()), (std::vector<Node>{3, 1}));
}

// Modes: 1 = exclusive only, 2 = shared only, 3 = both seen.
constexpr uint8_t kEx = 1, kSh = 2, kBoth = 3;

TEST(LockOrderGraphTest, TwoSharedHoldsOfOneLockBreakTheCycle) {
  LockOrderGraph g;
  // A=1 -> B=2 -> C=3 -> A. B is requested shared on A->B and held shared on B->C.
  EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 3}, {3, 1}}));
  PropsMap props;
  props.Set(1, 2, {{}, kEx, kSh});
  props.Set(2, 3, {{}, kSh, kEx});
  props.Set(3, 1, {{}, kEx, kEx});
  // Whichever edge closes it: B in the middle of the path, at its start, and at its end.
  EXPECT_TRUE(g.FindCycle(3, 1, props.Fn()).empty());
  EXPECT_TRUE(g.FindCycle(1, 2, props.Fn()).empty());
  EXPECT_TRUE(g.FindCycle(2, 3, props.Fn()).empty());
}

TEST(LockOrderGraphTest, ExclusiveOnEitherSideKeepsTheCycle) {
  const std::vector<std::pair<uint8_t, uint8_t>> usable = {
      {kEx, kSh}, {kSh, kEx}, {kEx, kEx}, {kBoth, kSh}, {kSh, kBoth}};
  for (auto [requested, held] : usable) {
    SCOPED_TRACE(::testing::Message() << "B requested " << int{requested} << ", held "
                                      << int{held});
    LockOrderGraph g;
    EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 3}, {3, 1}}));
    PropsMap props;
    props.Set(1, 2, {{}, kEx, requested});
    props.Set(2, 3, {{}, held, kEx});
    props.Set(3, 1, {{}, kEx, kEx});
    EXPECT_EQ(g.FindCycle(3, 1, props.Fn()), (std::vector<Node>{3, 1, 2}));
    EXPECT_EQ(g.FindCycle(1, 2, props.Fn()), (std::vector<Node>{1, 2, 3}));
    EXPECT_EQ(g.FindCycle(2, 3, props.Fn()), (std::vector<Node>{2, 3, 1}));
  }
}

TEST(LockOrderGraphTest, SharedOnlyOnDifferentLocksKeepsTheCycle) {
  LockOrderGraph g;
  // Shared at B on the way in and shared at C on the way out: no lock has two readers.
  EXPECT_TRUE(InsertAll(g, {{1, 2}, {2, 3}, {3, 1}}));
  PropsMap props;
  props.Set(1, 2, {{}, kEx, kSh});
  props.Set(2, 3, {{}, kEx, kEx});
  props.Set(3, 1, {{}, kSh, kEx});
  EXPECT_EQ(g.FindCycle(3, 1, props.Fn()), (std::vector<Node>{3, 1, 2}));
}

TEST(LockOrderGraphTest, SelfEdgeIsABackEdgeAndAOneLockCycle) {
  LockOrderGraph g;
  bool closes = false;
  EXPECT_TRUE(g.InsertEdge(5, 5, &closes));
  EXPECT_TRUE(closes);
  EXPECT_TRUE(g.HasEdge(5, 5));
  EXPECT_TRUE(g.IsBackEdge(5, 5));
  EXPECT_EQ(g.EdgeCount(), 1u);
  EXPECT_EQ(g.BackEdgeCount(), 1u);
  EXPECT_TRUE(g.CheckInvariants());
  EXPECT_EQ(g.FindCycle(5, 5, NoProps), (std::vector<Node>{5}));
  EXPECT_FALSE(g.InsertEdge(5, 5, &closes));
  EXPECT_FALSE(closes);
  EXPECT_EQ(g.EdgeCount(), 1u);
}

TEST(LockOrderGraphTest, RemovingNodeWithSelfEdgeUpdatesCounts) {
  LockOrderGraph g;
  bool closes = false;
  EXPECT_FALSE(InsertAll(g, {{1, 5}, {5, 2}}));
  EXPECT_TRUE(g.InsertEdge(5, 5, &closes));
  EXPECT_EQ(g.EdgeCount(), 3u);
  EXPECT_EQ(g.BackEdgeCount(), 1u);
  g.RemoveNode(5);
  EXPECT_FALSE(g.HasEdge(5, 5));
  EXPECT_EQ(g.EdgeCount(), 0u);
  EXPECT_EQ(g.BackEdgeCount(), 0u);
  EXPECT_TRUE(g.CheckInvariants());
}

// ---- Bookkeeping ----------------------------------------------------------------------------

TEST(LockOrderGraphTest, CountsDagAndBackEdgesThroughInsertsAndRemovals) {
  LockOrderGraph g;
  bool closes = false;
  EXPECT_EQ(g.EdgeCount(), 0u);
  EXPECT_EQ(g.BackEdgeCount(), 0u);
  EXPECT_FALSE(InsertAll(g, {{1, 2}, {2, 3}, {3, 4}, {1, 4}}));
  EXPECT_EQ(g.EdgeCount(), 4u);
  EXPECT_EQ(g.BackEdgeCount(), 0u);
  EXPECT_FALSE(g.InsertEdge(1, 2, &closes));  // known: no change
  EXPECT_EQ(g.EdgeCount(), 4u);
  EXPECT_TRUE(g.InsertEdge(4, 2, &closes));   // 2->3->4 exists: back edge
  EXPECT_TRUE(closes);
  EXPECT_TRUE(g.InsertEdge(3, 1, &closes));   // 1->2->3 exists: back edge
  EXPECT_TRUE(closes);
  EXPECT_EQ(g.EdgeCount(), 6u);
  EXPECT_EQ(g.BackEdgeCount(), 2u);
  EXPECT_FALSE(g.InsertEdge(4, 2, &closes));  // known back edge
  EXPECT_EQ(g.BackEdgeCount(), 2u);
  EXPECT_TRUE(g.CheckInvariants());

  // Node 3: DAG in 2->3, DAG out 3->4, back out 3->1.
  g.RemoveNode(3);
  EXPECT_TRUE(g.CheckInvariants());
  EXPECT_EQ(g.EdgeCount(), 3u);      // 1->2, 1->4, 4->2
  EXPECT_EQ(g.BackEdgeCount(), 1u);  // 4->2
  EXPECT_FALSE(g.HasEdge(2, 3));
  EXPECT_FALSE(g.HasEdge(3, 1));
  g.RemoveNode(3);  // already gone: no-op
  g.RemoveNode(999);  // never seen: no-op
  EXPECT_EQ(g.EdgeCount(), 3u);

  // Node 2: DAG in 1->2, back in 4->2.
  g.RemoveNode(2);
  EXPECT_TRUE(g.CheckInvariants());
  EXPECT_EQ(g.EdgeCount(), 1u);
  EXPECT_EQ(g.BackEdgeCount(), 0u);
  EXPECT_TRUE(g.HasEdge(1, 4));

  // A removed node comes back clean and is ordered afresh.
  EXPECT_TRUE(g.InsertEdge(4, 3, &closes));
  EXPECT_FALSE(closes);
  EXPECT_TRUE(g.InsertEdge(3, 1, &closes));
  EXPECT_TRUE(closes);
  EXPECT_EQ(g.EdgeCount(), 3u);
  EXPECT_EQ(g.BackEdgeCount(), 1u);
  EXPECT_TRUE(g.CheckInvariants());
}

// A copy (the benchmarks' starting graph) has the same DAG and back edges, shares no storage
// with its source, and an assignment drops the target's own edges, back edges included.
TEST(LockOrderGraphTest, CopiesAreDeepAndAssignmentReplacesBackEdges) {
  LockOrderGraph g;
  bool closes = false;
  // Node 1 gets more out-edges than a node's first adjacency holds (4): the lists grow.
  EXPECT_FALSE(InsertAll(g, {{1, 2}, {1, 3}, {1, 4}, {1, 5}, {1, 6}, {1, 7}, {2, 3}}));
  EXPECT_TRUE(g.InsertEdge(3, 1, &closes));
  EXPECT_TRUE(closes);
  EXPECT_TRUE(g.InsertEdge(7, 7, &closes));
  LockOrderGraph copy(g);
  EXPECT_TRUE(copy.CheckInvariants());
  EXPECT_EQ(copy.EdgeCount(), 9u);
  EXPECT_EQ(copy.BackEdgeCount(), 2u);
  EXPECT_TRUE(copy.IsBackEdge(3, 1));
  EXPECT_TRUE(copy.IsBackEdge(7, 7));
  EXPECT_EQ(copy.Successors(1).size(), 6u);
  g.RemoveNode(1);  // the source changes; the copy does not
  EXPECT_TRUE(g.CheckInvariants());
  EXPECT_TRUE(copy.HasEdge(1, 7));
  EXPECT_TRUE(copy.IsBackEdge(3, 1));
  EXPECT_TRUE(copy.CheckInvariants());

  LockOrderGraph plain;
  EXPECT_FALSE(InsertAll(plain, {{3, 4}}));
  copy = plain;  // the copy's back edges (and nodes 1, 2, 5-7) go
  EXPECT_TRUE(copy.CheckInvariants());
  EXPECT_EQ(copy.EdgeCount(), 1u);
  EXPECT_EQ(copy.BackEdgeCount(), 0u);
  EXPECT_FALSE(copy.IsBackEdge(3, 1));
  EXPECT_FALSE(copy.HasEdge(7, 7));
  EXPECT_TRUE(copy.InsertEdge(4, 3, &closes));  // and cycles close in it as in a fresh graph
  EXPECT_TRUE(closes);
  EXPECT_TRUE(copy.CheckInvariants());
}

// A node's first rank follows its side of its first edge: a lock first seen as `from` goes
// below every rank, as `to` above, so a chain learned from its far end needs no reorder.
TEST(LockOrderGraphTest, FirstRanksAgreeWithTheFirstEdge) {
  LockOrderGraph g;
  bool closes = false;
  for (Node x = 10; x > 0; --x) {
    ASSERT_TRUE(g.TryInsertOrdered(x - 1, x)) << x;  // 9->10, then 8->9 (8 fresh as from) ...
  }
  EXPECT_EQ(g.EdgeCount(), 10u);
  EXPECT_TRUE(g.CheckInvariants());
  EXPECT_FALSE(g.TryInsertOrdered(10, 0));  // against the order: refused, nothing changed
  EXPECT_EQ(g.EdgeCount(), 10u);
  EXPECT_TRUE(g.InsertEdge(10, 0, &closes));  // the exclusive insert finds the cycle
  EXPECT_TRUE(closes);
  EXPECT_TRUE(g.CheckInvariants());
}

// The shared mode: threads add edges at once (each its own share of the pairs), refusing those
// against the order; the refused ones are then inserted exclusively. The graph is then the
// oracle's: every edge once, in both directions, ranks in order, and a cycle exactly where the
// edges make one.
TEST(LockOrderGraphTest, ConcurrentOrderedInsertsThenExclusiveOnesKeepTheInvariants) {
  constexpr Node kNodes = 3000;
  constexpr int kThreads = 4;
  std::mt19937 rng(5);
  std::set<std::pair<Node, Node>> pairs;
  while (pairs.size() < 20000) {
    Node x = rng() % kNodes, y = rng() % kNodes;
    if (x == y) continue;
    if (x > y) std::swap(x, y);  // one global order: acyclic
    pairs.emplace(x, y);
  }
  std::vector<std::pair<Node, Node>> all(pairs.begin(), pairs.end());
  std::shuffle(all.begin(), all.end(), rng);
  LockOrderGraph g;
  std::vector<std::vector<std::pair<Node, Node>>> refused(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < all.size(); i += kThreads) {
        if (!g.TryInsertOrdered(all[i].first, all[i].second)) refused[t].push_back(all[i]);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  size_t nrefused = 0;
  for (const auto& r : refused) {
    nrefused += r.size();
    for (const auto& [x, y] : r) {
      bool closes = true;
      ASSERT_TRUE(g.InsertEdge(x, y, &closes, /*known_absent=*/true));
      EXPECT_FALSE(closes) << x << "->" << y;
    }
  }
  EXPECT_GT(nrefused, 0u);  // the random order needed reorders
  EXPECT_LT(nrefused, all.size());
  EXPECT_EQ(g.EdgeCount(), all.size());
  EXPECT_EQ(g.BackEdgeCount(), 0u);
  EXPECT_TRUE(g.CheckInvariants());
  for (const auto& [x, y] : all) ASSERT_TRUE(g.HasEdge(x, y));
  bool closes = false;
  const auto [x, y] = all.front();
  EXPECT_TRUE(g.InsertEdge(y, x, &closes));  // the one reversal
  EXPECT_TRUE(closes);
  EXPECT_TRUE(g.CheckInvariants());
}

}  // namespace
}  // namespace lockaudit::core
