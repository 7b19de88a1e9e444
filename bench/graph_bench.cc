// graph_bench: the cost of learning one new lock-order edge in LockOrderGraph, and of the
// "already known" check, on graphs of 1k to 100k locks.
//
//   build/bin/graph_bench --benchmark_counters_tabular=true
//
// The graph: `nodes` locks in clusters of kCluster (think: the locks of one subsystem). Inside a
// cluster a chain plus one random forward edge per lock (~2 edges per lock); no edges between
// clusters. Nodes are first touched in id order, so rank order == id order.
//  - BM_InsertNewEdgeForward: a new edge u->v with rank(u) < rank(v): no reorder, O(1).
//  - BM_InsertNewEdgeBackward: a new edge from a lock of cluster 2m+1 to one of cluster 2m:
//    against the current order but closing no cycle, so Pearce-Kelly re-ranks the affected
//    region (v's descendants and u's ancestors, at most 2 * kCluster locks, reported as the
//    `region` counter) whatever the graph's size.
//  - BM_KnownEdge: HasEdge() on an edge that exists (every later acquisition in that order).
// Every timed insert adds an edge the graph did not have; graphs are replaced (timer paused)
// before they run out of fresh pairs. The backward inserts go to many fresh graph copies, so each
// region is cold in cache (as for an edge between locks not used together before): most of the
// time is memory latency, and it does not grow with the graph.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "lock_order_graph.h"

namespace {

using lockaudit::core::LockOrderGraph;
using Node = LockOrderGraph::Node;

constexpr Node kCluster = 64;

LockOrderGraph BuildGraph(Node nodes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::pair<Node, Node>> edges;  // (to, from): sorted by target below
  for (Node first = 0; first < nodes; first += kCluster) {
    const Node end = std::min(nodes, first + kCluster);
    for (Node j = first + 1; j < end; ++j) edges.emplace_back(j, j - 1);
    for (Node i = first; i + 2 < end; ++i) {
      Node j = i + 2 + static_cast<Node>(rng() % (end - i - 2));
      edges.emplace_back(j, i);
    }
  }
  // By target, and for each target its chain edge (from j-1) first: every node is then first
  // touched in id order, so ranks follow ids and every insert here is O(1).
  std::sort(edges.begin(), edges.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  LockOrderGraph g;
  bool closes = false;
  for (const auto& [to, from] : edges) g.InsertEdge(from, to, &closes);
  return g;
}

void SetCommonCounters(benchmark::State& state, const LockOrderGraph& g, size_t bad) {
  state.counters["nodes"] = static_cast<double>(state.range(0));
  state.counters["edges"] = static_cast<double>(g.EdgeCount());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (bad != 0) state.SkipWithError("an insert was not a new, cycle-free edge");
}

void BM_InsertNewEdgeForward(benchmark::State& state) {
  const Node nodes = static_cast<Node>(state.range(0));
  const LockOrderGraph base = BuildGraph(nodes, 1);
  std::mt19937 rng(2);
  // Fresh pairs u < v per graph copy; as many as there are nodes.
  auto make_pairs = [&](const LockOrderGraph& g) {
    std::set<std::pair<Node, Node>> pairs;
    while (pairs.size() < nodes) {
      Node u = static_cast<Node>(rng() % nodes), v = static_cast<Node>(rng() % nodes);
      if (u == v) continue;
      if (u > v) std::swap(u, v);
      if (!g.HasEdge(u, v)) pairs.emplace(u, v);
    }
    std::vector<std::pair<Node, Node>> out(pairs.begin(), pairs.end());
    std::shuffle(out.begin(), out.end(), rng);
    return out;
  };
  LockOrderGraph g = base;
  std::vector<std::pair<Node, Node>> pairs = make_pairs(g);
  size_t next = 0, bad = 0;
  bool closes = false;
  for (auto _ : state) {
    if (next == pairs.size()) {
      state.PauseTiming();
      g = base;
      pairs = make_pairs(g);
      next = 0;
      state.ResumeTiming();
    }
    const auto [u, v] = pairs[next++];
    bad += !g.InsertEdge(u, v, &closes) || closes;
  }
  SetCommonCounters(state, g, bad);
}

void BM_InsertNewEdgeBackward(benchmark::State& state) {
  const Node nodes = static_cast<Node>(state.range(0));
  const LockOrderGraph base = BuildGraph(nodes, 1);
  const Node pairs_per_graph = nodes / kCluster / 2;  // cluster 2m+1 -> cluster 2m
  // Several graph copies per refill, so the paused refills stay rare even for small graphs.
  const size_t copies = std::max<size_t>(1, 4096 / pairs_per_graph);
  std::mt19937 rng(3);
  struct Insert {
    size_t graph;
    Node u, v;
  };
  std::vector<LockOrderGraph> graphs;
  std::vector<Insert> inserts;
  double region_sum = 0, generated = 0;
  auto refill = [&] {
    graphs.assign(copies, base);
    inserts.clear();
    for (size_t c = 0; c < copies; ++c) {
      const size_t first = inserts.size();
      for (Node m = 0; m < pairs_per_graph; ++m) {
        Node pv = static_cast<Node>(rng() % kCluster), pu = static_cast<Node>(rng() % kCluster);
        Node v = 2 * m * kCluster + pv, u = (2 * m + 1) * kCluster + pu;
        // v reaches the rest of its cluster (chain); u is reached from the start of its own.
        region_sum += (kCluster - pv) + (pu + 1);
        generated += 1;
        inserts.push_back({c, u, v});
      }
      // Random order within one graph; graphs one after the other (each stays in cache).
      std::shuffle(inserts.begin() + static_cast<ptrdiff_t>(first), inserts.end(), rng);
    }
  };
  refill();
  size_t next = 0, bad = 0;
  bool closes = false;
  for (auto _ : state) {
    if (next == inserts.size()) {
      state.PauseTiming();
      refill();
      next = 0;
      state.ResumeTiming();
    }
    const Insert& in = inserts[next++];
    bad += !graphs[in.graph].InsertEdge(in.u, in.v, &closes) || closes;
  }
  SetCommonCounters(state, graphs[0], bad);
  state.counters["region"] = region_sum / generated;  // mean over every pair generated
  state.counters["back_edges"] = static_cast<double>(graphs[0].BackEdgeCount());
}

void BM_KnownEdge(benchmark::State& state) {
  const Node nodes = static_cast<Node>(state.range(0));
  const LockOrderGraph g = BuildGraph(nodes, 1);
  std::mt19937 rng(4);
  std::vector<std::pair<Node, Node>> known;
  for (Node u = 0; u < nodes; ++u) {
    for (Node v : g.Successors(u)) known.emplace_back(u, v);
  }
  std::shuffle(known.begin(), known.end(), rng);
  size_t next = 0, missing = 0;
  for (auto _ : state) {
    const auto [u, v] = known[next];
    next = next + 1 == known.size() ? 0 : next + 1;
    bool has = g.HasEdge(u, v);
    benchmark::DoNotOptimize(has);
    missing += !has;
  }
  SetCommonCounters(state, g, missing);
}

BENCHMARK(BM_InsertNewEdgeForward)->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_InsertNewEdgeBackward)->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_KnownEdge)->Arg(1000)->Arg(10000)->Arg(100000);

}  // namespace

BENCHMARK_MAIN();
