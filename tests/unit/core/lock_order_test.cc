// Tests for the lock-order detector (core/lock_order.h) on its own: a fresh LockOrder per test,
// driven by hand-made acquisitions through a fake host (tables for liveness, naming keys,
// evidence and thread lineage), never through the process-wide engine.
#include "lock_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace lockaudit::core {
namespace {

class FakeHost final : public LockOrderHost {
 public:
  // Lock index i is live with generation gen[i] (0: never made).
  NodeId Make(uint32_t index) {
    std::lock_guard<std::mutex> g(mu_);
    if (gen_.size() <= index) gen_.resize(index + 1, 0);
    return MakeNodeId(++gen_[index], index);
  }
  void Kill(NodeId id) {
    std::lock_guard<std::mutex> g(mu_);
    ++gen_[IndexOf(id)];
  }
  bool IsLive(NodeId id) override {
    std::lock_guard<std::mutex> g(mu_);
    return IndexOf(id) < gen_.size() && gen_[IndexOf(id)] == GenerationOf(id);
  }
  void MarkInGraph(NodeId id) override {
    std::lock_guard<std::mutex> g(mu_);
    in_graph.insert(id);
  }
  NodeId IdAt(uint32_t index) override {
    std::lock_guard<std::mutex> g(mu_);
    return MakeNodeId(gen_.at(index), index);
  }
  uint64_t NamingKey(NodeId id) override {
    std::lock_guard<std::mutex> g(mu_);
    ++naming_keys;
    return same_naming_key ? 7 : id;
  }
  bool WantsEdgeLines() override { return wants_edge_lines; }
  bool CaptureEvidence(const Acquisition& a, const uint32_t* window, uint32_t count,
                       StackId* stack, StackId* held_stacks, bool lookup_only) override {
    std::lock_guard<std::mutex> g(mu_);
    if (lookup_only) {
      ++lookups;
      if (!evidence_known) return false;
    } else {
      ++captures;
    }
    // Stack ids that say where they came from: the acquisition site and each held lock's.
    *stack = static_cast<StackId>(a.site.pc);
    for (uint32_t k = 0; k < count; ++k) {
      held_stacks[k] = static_cast<StackId>(a.held[window[k]].site.pc);
    }
    return true;
  }
  std::string OrderedReason(uint32_t x, const std::string& x_name, uint32_t y,
                            const std::string& y_name) override {
    std::lock_guard<std::mutex> g(mu_);
    if (ordered.count({x, y}) || ordered.count({y, x})) return x_name + " before " + y_name;
    return "";
  }

  // Read by tests once the threads that drive the detector are done.
  std::set<NodeId> in_graph;
  int lookups = 0, captures = 0;
  bool evidence_known = false;
  bool same_naming_key = false;
  bool wants_edge_lines = true;
  int naming_keys = 0;
  std::set<std::pair<uint32_t, uint32_t>> ordered;  // incarnations whose edges are ordered

 private:
  std::mutex mu_;
  std::vector<uint32_t> gen_;
};

// One program thread: its held set, as the tracker keeps it.
class FakeThread {
 public:
  FakeThread(LockOrder& d, uint32_t tid, uint64_t incarnation)
      : d_(d), tid_(tid), incarnation_(incarnation) {}

  // Acquires `id`: learns its edges (as the tracker does for a new context), then holds it.
  LearnResult Lock(NodeId id, uint32_t flags = 0, uintptr_t pc = 0x1000) {
    Acquisition a;
    a.id = id;
    a.flags = flags;
    a.site = Site{pc, 0x7000};
    a.held = held_.data();
    a.held_count = static_cast<uint32_t>(held_.size());
    a.tid = tid_;
    a.thread_name = name_.c_str();
    a.incarnation = incarnation_;
    LearnResult r;
    if (!held_.empty() && !d_.AllSaturated(a)) d_.Learn(a, &r);
    HeldLock h{};
    h.id = id;
    h.flags = flags;
    h.site = Site{pc, 0x7000};
    held_.push_back(h);
    return r;
  }
  // A successful trylock: held, and (as in the tracker) no edge learned into it.
  void TryLock(NodeId id, uint32_t flags = 0, uintptr_t pc = 0x1000) {
    HeldLock h{};
    h.id = id;
    h.flags = flags | kTry;
    h.site = Site{pc, 0x7000};
    held_.push_back(h);
  }
  void Unlock(NodeId id) {
    auto it = std::find_if(held_.rbegin(), held_.rend(),
                           [id](const HeldLock& h) { return h.id == id; });
    ASSERT_NE(it, held_.rend());
    held_.erase(std::next(it).base());
  }
  void UnlockAll() { held_.clear(); }
  // Locks each in turn, then unlocks them all; the cycles found on the way.
  std::vector<CycleFinding> Nest(const std::vector<NodeId>& ids, uint32_t flags = 0) {
    std::vector<CycleFinding> cycles;
    for (NodeId id : ids) {
      LearnResult r = Lock(id, flags);
      for (CycleFinding& c : r.cycles) cycles.push_back(std::move(c));
    }
    UnlockAll();
    return cycles;
  }

 private:
  LockOrder& d_;
  uint32_t tid_;
  uint64_t incarnation_;
  std::string name_ = "t";
  std::vector<HeldLock> held_;
};

class LockOrderTest : public ::testing::Test {
 protected:
  FakeHost host;
  LockOrder d{host};
  FakeThread t1{d, 101, 1}, t2{d, 102, 2}, t3{d, 103, 3};
  NodeId a = host.Make(1), b = host.Make(2), c = host.Make(3), g = host.Make(4);

  // Makes `n` locks (indices from 100) and has t1 take each consecutive pair of them, nested:
  // n - 1 new edges. Returns the edge lines those learns gave.
  size_t ChainInT1(uint32_t n, std::vector<NodeId>* locks) {
    for (uint32_t i = 0; i < n; ++i) locks->push_back(host.Make(100 + i));
    size_t lines = 0;
    for (uint32_t i = 0; i + 1 < n; ++i) {
      t1.Lock((*locks)[i]);
      lines += t1.Lock((*locks)[i + 1]).new_edges.size();
      t1.UnlockAll();
    }
    return lines;
  }
};

TEST_F(LockOrderTest, TwoLockCycleIsReportedOnceWithBothThreadsEdges) {
  EXPECT_TRUE(t1.Nest({a, b}).empty());
  std::vector<CycleFinding> found = t2.Nest({b, a});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].nodes, (std::vector<NodeId>{b, a}));  // from the edge that closed it
  ASSERT_EQ(found[0].edges.size(), 2u);
  EXPECT_EQ(found[0].edges[0].from, b);
  EXPECT_EQ(found[0].edges[0].to, a);
  EXPECT_EQ(found[0].edges[0].tid, 102u);
  EXPECT_EQ(found[0].edges[1].from, a);
  EXPECT_EQ(found[0].edges[1].to, b);
  EXPECT_EQ(found[0].edges[1].tid, 101u);
  EXPECT_TRUE(found[0].ordered_reason.empty());
  EXPECT_FALSE(found[0].again);
  // The same cycle again, by either thread: not reported again.
  EXPECT_TRUE(t2.Nest({b, a}).empty());
  EXPECT_TRUE(t1.Nest({a, b}).empty());
  EXPECT_TRUE(t3.Nest({b, a}).empty());
  EXPECT_EQ(d.GetCounts().live_edges, 2u);
  EXPECT_TRUE(host.in_graph.count(a) && host.in_graph.count(b));
}

TEST_F(LockOrderTest, ThreeLockCycleOverThreeThreads) {
  EXPECT_TRUE(t1.Nest({a, b}).empty());
  EXPECT_TRUE(t2.Nest({b, c}).empty());
  std::vector<CycleFinding> found = t3.Nest({c, a});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].nodes, (std::vector<NodeId>{c, a, b}));
  ASSERT_EQ(found[0].edges.size(), 3u);
  EXPECT_EQ(found[0].edges[0].from, c);
  EXPECT_EQ(found[0].edges[0].to, a);
  EXPECT_EQ(found[0].edges[2].from, b);
  EXPECT_EQ(found[0].edges[2].to, c);
}

TEST_F(LockOrderTest, CycleUnderOneGateLockIsNoDeadlockUntilAnEdgeIsTakenWithoutIt) {
  EXPECT_TRUE(t1.Nest({g, a, b}).empty());
  EXPECT_TRUE(t2.Nest({g, b, a}).empty());  // both edges under g: g keeps them apart
  std::vector<CycleFinding> found = t3.Nest({b, a});  // b -> a without g: its gate set empties
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].nodes, (std::vector<NodeId>{b, a}));
}

TEST_F(LockOrderTest, ReadersOfOneLockDoNotCloseACycleUnlessWritersQueueThem) {
  t1.Lock(a, kShared);
  t1.Lock(b);
  t1.UnlockAll();
  t2.Lock(b);
  EXPECT_TRUE(t2.Lock(a, kShared).cycles.empty());  // a held shared and requested shared
  t2.UnlockAll();
  // A read request of a writer-preferring rwlock can block behind a queued writer.
  t3.Lock(b);
  LearnResult r = t3.Lock(a, kShared | kWriterPreferring);
  ASSERT_EQ(r.cycles.size(), 1u);
  EXPECT_EQ(r.cycles[0].nodes, (std::vector<NodeId>{b, a}));
}

TEST_F(LockOrderTest, OnlyTheDirectEdgeIsLearnedAndChangesRewriteItsLine) {
  t1.Lock(a);
  t1.Lock(b);
  LearnResult r = t1.Lock(c);
  ASSERT_EQ(r.new_edges.size(), 1u);  // b -> c (the nearest held lock); a -> c is implied
  EXPECT_EQ(r.new_edges[0].from, b);
  EXPECT_EQ(r.new_edges[0].to, c);
  EXPECT_EQ(r.new_edges[0].ngates, 1u);  // a, held exclusively around it
  EXPECT_EQ(r.new_edges[0].outers[0], a);  // b -> c stands for a -> c too
  EXPECT_EQ(d.GetCounts().edges_learned, 2u);
  EdgeRecord rec;
  EXPECT_FALSE(d.CurrentEdge(a, c, &rec));
  t1.UnlockAll();
  // b -> c again, without a: its gates change, and so does its line.
  t2.Lock(b);
  r = t2.Lock(c);
  EXPECT_TRUE(r.new_edges.empty());
  ASSERT_EQ(r.changed_edges.size(), 1u);
  EXPECT_EQ(r.changed_edges[0].ngates, 0u);
  EXPECT_TRUE(r.changed_edges[0].multi_thread);
  t2.UnlockAll();
  // Nothing left to change: no line, no work.
  t3.Lock(b);
  EXPECT_TRUE(t3.Lock(c).empty());
}

TEST_F(LockOrderTest, ThreeLockCycleIsFoundThroughTheChainOfDirectEdges) {
  t1.Nest({a, b, c});  // a -> b, b -> c
  std::vector<CycleFinding> found = t2.Nest({c, a});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].nodes, (std::vector<NodeId>{c, a, b}));
  // Under a common gate the chain is gated like its edges: no cycle.
  NodeId x = host.Make(10), y = host.Make(11), z = host.Make(12);
  t1.Nest({g, x, y, z});
  EXPECT_TRUE(t2.Nest({g, z, x}).empty());
  // Without the gate it can deadlock.
  EXPECT_EQ(t3.Nest({z, x}).size(), 1u);
}

TEST_F(LockOrderTest, EdgesPassThroughTryLockedAndSharedHeldLocks) {
  // A lock only try-acquired has no edge into it: the edge from the lock outside it is
  // learned directly, or a -> c would be lost.
  t1.Lock(a);
  t1.TryLock(b);
  LearnResult r = t1.Lock(c);
  EXPECT_EQ(r.new_edges.size(), 2u);
  EdgeRecord rec;
  EXPECT_TRUE(d.CurrentEdge(a, c, &rec));
  EXPECT_TRUE(d.CurrentEdge(b, c, &rec));
  EXPECT_FALSE(d.CurrentEdge(a, b, &rec));
  t1.UnlockAll();
  EXPECT_EQ(t2.Nest({c, a}).size(), 1u);
  // A lock held shared does not carry the order of the exclusive lock outside it: hold x,
  // then s shared, take y; the reverse, y then x, is a two-thread deadlock.
  NodeId x = host.Make(10), s = host.Make(11), y = host.Make(12);
  t1.Lock(x);
  t1.Lock(s, kShared);
  t1.Lock(y);
  t1.UnlockAll();
  EXPECT_TRUE(d.CurrentEdge(x, y, &rec));
  EXPECT_TRUE(d.CurrentEdge(s, y, &rec));
  std::vector<CycleFinding> found = t2.Nest({y, x});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].nodes.size(), 2u);
}

TEST_F(LockOrderTest, DestroyingALockInTheMiddleOfANestKeepsTheOrderAroundIt) {
  // x (global), z (a per-request object's lock), y (global); z is destroyed; then y, x.
  NodeId x = host.Make(10), z1 = host.Make(11), z2 = host.Make(12), y = host.Make(13);
  t1.Lock(x, 0, 0x10);
  t1.Lock(z1, 0, 0x11);
  t1.Lock(z2, 0, 0x12);
  t1.Lock(y, 0, 0x13);
  t1.UnlockAll();
  d.Forget(z1);
  host.Kill(z1);
  d.Forget(z2);
  host.Kill(z2);
  EXPECT_EQ(d.GetCounts().edges_implied, 2u);  // x -> z2 (through z1), then x -> y (through z2)
  EdgeRecord rec;
  ASSERT_TRUE(d.CurrentEdge(x, y, &rec));
  EXPECT_TRUE(rec.implied);
  EXPECT_EQ(rec.stack, 0x13u);       // where y was taken
  EXPECT_EQ(rec.held_stack, 0x10u);  // where x was taken
  EXPECT_EQ(rec.tid, 101u);
  std::vector<CycleFinding> found = t2.Nest({y, x});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].nodes.size(), 2u);
  // The same nest with its middle locks destroyed innermost first.
  NodeId p = host.Make(20), q1 = host.Make(21), q2 = host.Make(22), r = host.Make(23);
  t1.Nest({p, q1, q2, r});
  d.Forget(q2);
  host.Kill(q2);
  d.Forget(q1);
  host.Kill(q1);
  ASSERT_TRUE(d.CurrentEdge(p, r, &rec));
  EXPECT_TRUE(rec.implied);
  EXPECT_EQ(t2.Nest({r, p}).size(), 1u);
}

TEST_F(LockOrderTest, ImpliedEdgeSkipsATryLockOutsideTheDestroyedLockAndKeepsItsGates) {
  // o, try t, x, y: x -> y stands for o -> y (t, only tried, carries no order).
  NodeId o = host.Make(10), t = host.Make(11), x = host.Make(12), y = host.Make(13);
  t1.Lock(o);
  t1.TryLock(t);
  t1.Lock(x);
  t1.Lock(y);
  t1.UnlockAll();
  d.Forget(x);
  host.Kill(x);
  EdgeRecord rec;
  ASSERT_TRUE(d.CurrentEdge(o, y, &rec));
  EXPECT_EQ(t2.Nest({y, o}).size(), 1u);
  // A gate held around every acquisition of y under x stays a gate of the implied edge, even
  // when x was also taken under o without it.
  NodeId g2 = host.Make(20), o2 = host.Make(21), x2 = host.Make(22), y2 = host.Make(23);
  t1.Nest({o2, x2});
  t1.Nest({g2, o2, x2, y2});
  d.Forget(x2);
  host.Kill(x2);
  ASSERT_TRUE(d.CurrentEdge(o2, y2, &rec));
  ASSERT_EQ(rec.ngates, 1u);
  EXPECT_EQ(rec.gates[0], g2);
  EXPECT_TRUE(t3.Nest({g2, y2, o2}).empty());  // under g2 on both sides: cannot deadlock
}

TEST_F(LockOrderTest, LocksTakenInSeparateNestsImplyNoOrderOnceTheMiddleOneIsGone) {
  NodeId x = host.Make(10), z = host.Make(11), y = host.Make(12);
  t1.Nest({x, z});
  t1.Nest({z, y});  // z -> y has no lock outside it
  d.Forget(z);
  host.Kill(z);
  EXPECT_EQ(d.GetCounts().edges_implied, 0u);
  EXPECT_TRUE(t2.Nest({y, x}).empty());
}

TEST_F(LockOrderTest, AnImpliedEdgeComesOnlyFromLocksHeldInTheSameNest) {
  // p, o, x in one nest; o, x, y in another: p was never held while y was taken, so no
  // destruction order of x and o may leave p -> y (y then p is no deadlock).
  NodeId p = host.Make(10), o = host.Make(11), x = host.Make(12), y = host.Make(13);
  t1.Nest({p, o, x});
  t1.Nest({o, x, y});
  d.Forget(x);
  host.Kill(x);
  d.Forget(o);
  host.Kill(o);
  EdgeRecord rec;
  EXPECT_FALSE(d.CurrentEdge(p, y, &rec));
  EXPECT_TRUE(t2.Nest({y, p}).empty());
  // The other order: o first (p -> x implied from the first nest), then x.
  NodeId p2 = host.Make(20), o2 = host.Make(21), x2 = host.Make(22), y2 = host.Make(23);
  t1.Nest({p2, o2, x2});
  t1.Nest({o2, x2, y2});
  d.Forget(o2);
  host.Kill(o2);
  EXPECT_TRUE(d.CurrentEdge(p2, x2, &rec));
  d.Forget(x2);
  host.Kill(x2);
  EXPECT_FALSE(d.CurrentEdge(p2, y2, &rec));
  EXPECT_TRUE(t2.Nest({y2, p2}).empty());
}

TEST_F(LockOrderTest, TwoNestedLocksDestroyedTogetherKeepTheOrderAroundThem) {
  // One free() of an object with two mutexes a, b taken between p and y: both are dead
  // before either is forgotten, in either order.
  for (int innermost_first = 0; innermost_first < 2; ++innermost_first) {
    NodeId p = host.Make(10 + 10 * innermost_first), a = host.Make(11 + 10 * innermost_first),
           b = host.Make(12 + 10 * innermost_first), y = host.Make(13 + 10 * innermost_first);
    t1.Nest({p, a, b, y});
    host.Kill(a);
    host.Kill(b);
    d.Forget(innermost_first ? b : a);
    d.Forget(innermost_first ? a : b);
    EdgeRecord rec;
    ASSERT_TRUE(d.CurrentEdge(p, y, &rec)) << innermost_first;
    EXPECT_TRUE(rec.implied);
    EXPECT_EQ(t2.Nest({y, p}).size(), 1u) << innermost_first;
  }
}

TEST_F(LockOrderTest, AnImpliedEdgeMergesIntoTheEdgeAlreadyThere) {
  // o -> y first seen under g; then o, x, y without g. With x gone, o -> y is no longer gated:
  // g, y, o can deadlock against o, x, y.
  NodeId o = host.Make(10), x = host.Make(11), y = host.Make(12);
  t1.Nest({g, o, y});
  t1.Nest({o, x, y});
  d.Forget(x);
  host.Kill(x);
  EdgeRecord rec;
  ASSERT_TRUE(d.CurrentEdge(o, y, &rec));
  EXPECT_EQ(rec.ngates, 0u);
  EXPECT_EQ(t2.Nest({g, y, o}).size(), 1u);
}

TEST_F(LockOrderTest, EdgeLinesAreBudgetedPerNamingPair) {
  host.same_naming_key = true;  // every lock made at one site
  std::vector<NodeId> locks;
  const size_t lines = ChainInT1(21, &locks);
  EXPECT_EQ(lines, LockOrder::kEdgeLinesPerPair);
  LockOrder::Counts counts = d.GetCounts();
  EXPECT_EQ(counts.edges_learned, 20u);
  EXPECT_EQ(counts.edge_lines_dropped, 20u - LockOrder::kEdgeLinesPerPair);
}

TEST_F(LockOrderTest, NoLineBudgetIsTakenWhenNoLinesAreWanted) {
  host.wants_edge_lines = false;  // no JSON report
  host.same_naming_key = true;
  std::vector<NodeId> locks;
  const size_t lines = ChainInT1(21, &locks);
  EXPECT_EQ(lines, 0u);
  EXPECT_EQ(host.naming_keys, 0);  // no budget probe
  LockOrder::Counts counts = d.GetCounts();
  EXPECT_EQ(counts.edges_learned, 20u);
  EXPECT_EQ(counts.edge_lines_dropped, 0u);
  // The edges are learned all the same: the reverse order is a cycle.
  t2.Lock(locks[1]);
  EXPECT_EQ(t2.Lock(locks[0]).cycles.size(), 1u);
  t2.UnlockAll();
  // Lines wanted again (a forked child with a report of its own): the budget applies.
  host.wants_edge_lines = true;
  NodeId x = host.Make(200), y = host.Make(201);
  t1.Lock(x);
  EXPECT_EQ(t1.Lock(y).new_edges.size(), 1u);
  t1.UnlockAll();
}

TEST_F(LockOrderTest, EvidenceIsCapturedOnlyForANewEdge) {
  t1.Lock(a, 0, 0x10);
  t1.Lock(b, 0, 0x20);
  t1.UnlockAll();
  EXPECT_EQ(host.captures, 1);
  EdgeRecord rec;
  ASSERT_TRUE(d.CurrentEdge(a, b, &rec));
  EXPECT_EQ(rec.stack, 0x20u);       // the acquisition's
  EXPECT_EQ(rec.held_stack, 0x10u);  // where a was taken
  // The same edge by another thread: it changes (a second thread) but is not new.
  t2.Lock(a, 0, 0x30);
  t2.Lock(b, 0, 0x40);
  t2.UnlockAll();
  EXPECT_EQ(host.captures, 1);
  ASSERT_TRUE(d.CurrentEdge(a, b, &rec));
  EXPECT_EQ(rec.stack, 0x20u);  // the first observation's evidence stays
  // Evidence the host already has: looked up, never captured.
  host.evidence_known = true;
  t1.Lock(a);
  t1.Lock(c);
  t1.UnlockAll();
  EXPECT_EQ(host.captures, 1);
  EXPECT_TRUE(d.CurrentEdge(a, c, &rec));
}

TEST_F(LockOrderTest, SaturatedContextsNeedNoLearning) {
  t1.Nest({a, b});
  Acquisition acq;
  HeldLock h{};
  h.id = a;
  acq.id = b;
  acq.held = &h;
  acq.held_count = 1;
  EXPECT_FALSE(d.AllSaturated(acq));  // seen by one thread: a second one changes it
  t2.Nest({a, b});
  EXPECT_TRUE(d.AllSaturated(acq));
  acq.flags = kShared;
  EXPECT_FALSE(d.AllSaturated(acq));  // a mode not seen yet
  // With a gate left, never saturated.
  t1.Nest({g, a, c});
  t2.Nest({g, a, c});
  acq.id = c;
  acq.flags = 0;
  EXPECT_FALSE(d.AllSaturated(acq));
}

TEST_F(LockOrderTest, ForgettingALockDropsItsEdgesAndCycles) {
  t1.Nest({a, b});
  t1.Nest({c, a});
  EXPECT_EQ(d.GetCounts().live_edges, 2u);
  d.Forget(a);
  host.Kill(a);
  EXPECT_EQ(d.GetCounts().live_edges, 0u);
  EdgeRecord rec;
  EXPECT_FALSE(d.CurrentEdge(a, b, &rec));
  // A new lock at a's index closes no cycle with the old one's edges.
  NodeId a2 = host.Make(IndexOf(a));
  EXPECT_TRUE(t2.Nest({b, a2}).empty());
  EXPECT_TRUE(t2.Nest({a2, c}).empty());
  EXPECT_EQ(d.GetCounts().edges_learned, 4u);
}

TEST_F(LockOrderTest, HeldLockThatDiedIsNoEdgeSource) {
  t1.Lock(a);
  host.Kill(a);
  t1.Lock(b);
  t1.UnlockAll();
  EXPECT_EQ(d.GetCounts().live_edges, 0u);
}

TEST_F(LockOrderTest, DeepHeldSetsLearnOneEdgeFromTheNearestLock) {
  std::vector<NodeId> held;
  for (uint32_t i = 0; i < 100; ++i) {
    held.push_back(host.Make(1000 + i));
    t1.Lock(held.back());
  }
  const uint64_t before = d.GetCounts().edges_learned;
  EXPECT_EQ(before, 99u);  // each lock learned one edge, from the one taken before it
  NodeId x = host.Make(2000);
  LearnResult r = t1.Lock(x);
  EXPECT_EQ(d.GetCounts().edges_learned - before, 1u);
  ASSERT_EQ(r.new_edges.size(), 1u);
  EXPECT_EQ(r.new_edges[0].from, held.back());
  EXPECT_EQ(r.new_edges[0].ngates, EdgeRecord::kMaxGates);  // the outermost held locks
  EXPECT_EQ(r.new_edges[0].gates[0], held[0]);
  EdgeRecord rec;
  EXPECT_FALSE(d.CurrentEdge(held[0], x, &rec));  // implied by the chain held[0] -> ... -> x
  EXPECT_FALSE(d.CurrentEdge(held[98], x, &rec));
  t1.UnlockAll();
  // The reverse of an implied edge still closes a cycle, through the chain.
  t2.Lock(x);
  r = t2.Lock(held[0]);
  ASSERT_EQ(r.cycles.size(), 1u);
  EXPECT_EQ(r.cycles[0].nodes.size(), 101u);
}

TEST_F(LockOrderTest, OrderedCycleIsReportedAgainWhenAnotherThreadTakesOneOfItsEdges) {
  host.ordered.insert({1, 2});  // thread 1 was joined before thread 2 was created
  t1.Nest({a, b});
  std::vector<CycleFinding> found = t2.Nest({b, a});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_FALSE(found[0].ordered_reason.empty());
  EXPECT_FALSE(found[0].again);
  // Thread 3 runs alongside: a -> b taken by it can deadlock with thread 2's b -> a.
  t3.Lock(a, 0, 0x55);
  LearnResult r = t3.Lock(b, 0, 0x66);
  ASSERT_EQ(r.cycles.size(), 1u);
  EXPECT_TRUE(r.cycles[0].again);
  EXPECT_TRUE(r.cycles[0].ordered_reason.empty());
  bool seen = false;
  for (const EdgeRecord& e : r.cycles[0].edges) {
    if (e.from == a && e.to == b) {
      seen = true;
      EXPECT_EQ(e.tid, 103u);
      EXPECT_EQ(e.incarnation, 3u);
    }
  }
  EXPECT_TRUE(seen);
  t3.UnlockAll();
  t1.Nest({a, b});
  EXPECT_TRUE(t3.Nest({a, b}).empty());  // reported again once only
}

TEST_F(LockOrderTest, ReacquiringAHeldLockLearnsNoSelfEdge) {
  HeldLock held[2] = {};
  held[0].id = a;
  held[1].id = b;
  Acquisition acq;
  acq.id = a;  // a blocking re-lock of a, holding a and b
  acq.held = held;
  acq.held_count = 2;
  acq.incarnation = 1;
  LearnResult r;
  d.Learn(acq, &r);
  EXPECT_EQ(d.GetCounts().live_edges, 1u);  // b -> a only
  EdgeRecord rec;
  EXPECT_FALSE(d.CurrentEdge(a, a, &rec));
  EXPECT_TRUE(d.CurrentEdge(b, a, &rec));
}

// Threads learning at once, each taking random pairs in one global order: no cycle, every edge
// once; then one reversed pair closes exactly one cycle.
TEST_F(LockOrderTest, ConcurrentOrderedLearningFindsNoCycleThenOneReversal) {
  std::vector<NodeId> locks;
  for (uint32_t i = 0; i < 64; ++i) locks.push_back(host.Make(10 + i));
  std::atomic<int> cycles{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      FakeThread ft(d, 200 + t, 10 + t);
      std::mt19937 rng(t);
      for (int k = 0; k < 3000; ++k) {
        uint32_t x = rng() % 64, y = rng() % 64;
        if (x == y) continue;
        if (x > y) std::swap(x, y);
        cycles += static_cast<int>(ft.Nest({locks[x], locks[y]}).size());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(cycles.load(), 0);
  const LockOrder::Counts counts = d.GetCounts();
  EXPECT_EQ(counts.edges_learned, counts.live_edges);
  EXPECT_GT(counts.live_edges, 1500u);  // of the 2,016 ordered pairs
  std::vector<CycleFinding> found = t1.Nest({locks[63], locks[0]});
  EXPECT_EQ(found.size(), 1u);
}

// Threads learning at once through both of the detector's modes: locks made in shuffled index
// order (so the graph's first ranks disagree with the locks' order and reorders interleave
// with the shared mode's inserts), nests of two or three in one global order. Afterwards every
// edge is there once with the evidence of all its observations merged as one thread would
// have: gates intersected, multi_thread exactly when two threads took it.
TEST_F(LockOrderTest, ConcurrentNestsMergeEveryObservationOnce) {
  constexpr uint32_t kLocks = 300;
  constexpr int kThreads = 6;
  std::vector<uint32_t> indices(kLocks);
  for (uint32_t i = 0; i < kLocks; ++i) indices[i] = 100 + i;
  std::mt19937 shuffle_rng(9);
  std::shuffle(indices.begin(), indices.end(), shuffle_rng);
  std::vector<NodeId> locks;  // locks[i] comes before locks[j] when i < j
  for (uint32_t index : indices) locks.push_back(host.Make(index));
  struct Seen {
    std::set<int> threads;
    std::set<NodeId> gates;  // intersection of the observations' gate sets
    bool first = true;
  };
  std::vector<std::map<std::pair<NodeId, NodeId>, Seen>> seen(kThreads);
  std::atomic<int> cycles{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      FakeThread ft(d, 300 + t, 20 + t);
      std::mt19937 rng(100 + t);
      for (int k = 0; k < 4000; ++k) {
        std::set<uint32_t> pick;
        const size_t depth = 2 + rng() % 2;
        while (pick.size() < depth) pick.insert(rng() % kLocks);
        std::vector<NodeId> nest;
        for (uint32_t i : pick) nest.push_back(locks[i]);
        for (size_t j = 1; j < nest.size(); ++j) {
          Seen& e = seen[t][{nest[j - 1], nest[j]}];
          e.threads.insert(t);
          std::set<NodeId> gates(nest.begin(), nest.begin() + j - 1);
          if (e.first) {
            e.gates = gates;
            e.first = false;
          } else {
            std::set<NodeId> both;
            std::set_intersection(e.gates.begin(), e.gates.end(), gates.begin(), gates.end(),
                                  std::inserter(both, both.begin()));
            e.gates = both;
          }
        }
        cycles += static_cast<int>(ft.Nest(nest).size());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(cycles.load(), 0);
  std::map<std::pair<NodeId, NodeId>, Seen> merged;
  for (const auto& per_thread : seen) {
    for (const auto& [edge, e] : per_thread) {
      Seen& m = merged[edge];
      m.threads.insert(e.threads.begin(), e.threads.end());
      if (m.first) {
        m.gates = e.gates;
        m.first = false;
      } else {
        std::set<NodeId> both;
        std::set_intersection(m.gates.begin(), m.gates.end(), e.gates.begin(), e.gates.end(),
                              std::inserter(both, both.begin()));
        m.gates = both;
      }
    }
  }
  const LockOrder::Counts counts = d.GetCounts();
  EXPECT_EQ(counts.live_edges, merged.size());
  EXPECT_EQ(counts.edges_learned, merged.size());
  size_t multi = 0;
  for (const auto& [edge, m] : merged) {
    EdgeRecord rec;
    ASSERT_TRUE(d.CurrentEdge(edge.first, edge.second, &rec));
    EXPECT_EQ(rec.multi_thread, m.threads.size() > 1);
    multi += rec.multi_thread;
    std::set<NodeId> gates(rec.gates, rec.gates + rec.ngates);
    EXPECT_EQ(gates, m.gates);
  }
  EXPECT_GT(multi, 0u);
  std::vector<CycleFinding> found = t1.Nest({locks[kLocks - 1], locks[0]});
  EXPECT_EQ(found.size(), 1u);
}

// Learning takes the shared mode (no detector-wide mutex) until a cycle is found, and again once
// the locks of the cycles found are gone: a cycle reported as ordered does not keep every later
// acquisition in the exclusive mode after its locks were destroyed.
TEST_F(LockOrderTest, SharedModeComesBackWhenTheCyclesLocksAreDestroyed) {
  NodeId x = host.Make(20), y = host.Make(21), z = host.Make(22);
  t1.Nest({c, g});
  EXPECT_EQ(d.GetCounts().exclusive_learns, 0u);  // new edges in order: the shared mode
  host.ordered.insert({1, 2});
  t1.Nest({a, b});
  ASSERT_EQ(t2.Nest({b, a}).size(), 1u);  // reported as ordered; the graph has a back edge
  uint64_t exclusive = d.GetCounts().exclusive_learns;
  t1.Nest({x, y});
  EXPECT_EQ(d.GetCounts().exclusive_learns, exclusive + 1);  // a cycle is known: exclusive
  host.Kill(a);
  d.Forget(a);
  exclusive = d.GetCounts().exclusive_learns;
  t1.Nest({y, z});
  EXPECT_EQ(d.GetCounts().exclusive_learns, exclusive);  // shared again
  EdgeRecord rec;
  EXPECT_TRUE(d.CurrentEdge(y, z, &rec));
}

}  // namespace
}  // namespace lockaudit::core
