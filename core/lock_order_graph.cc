#include "lock_order_graph.h"

#include <sched.h>

#include <algorithm>
#include <deque>
#include <new>

namespace lockaudit::core {

LockOrderGraph::~LockOrderGraph() {
  for (auto& c : chunks_) delete[] c.load(std::memory_order_relaxed);
}

LockOrderGraph& LockOrderGraph::operator=(const LockOrderGraph& other) {
  if (this == &other) return *this;
  for (uint32_t c = 0; c < kMaxChunks; ++c) {
    const NodeData* from = other.chunks_[c].load(std::memory_order_relaxed);
    NodeData* to = chunks_[c].load(std::memory_order_relaxed);
    if (from == nullptr) {
      delete[] to;
      chunks_[c].store(nullptr, std::memory_order_relaxed);
      continue;
    }
    if (to == nullptr) {
      to = new NodeData[kChunkNodes];
      chunks_[c].store(to, std::memory_order_relaxed);
    }
    for (uint32_t i = 0; i < kChunkNodes; ++i) {
      to[i].rank.store(from[i].rank.load(std::memory_order_relaxed), std::memory_order_relaxed);
      to[i].present.store(from[i].present.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
      to[i].visited = 0;
      to[i].out = from[i].out;
      to[i].in = from[i].in;
      if (from[i].back == nullptr) {
        delete to[i].back;
        to[i].back = nullptr;
      } else {
        to[i].Back().out = from[i].back->out;
        to[i].back->in = from[i].back->in;
      }
    }
  }
  next_rank_.store(other.next_rank_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  low_rank_.store(other.low_rank_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  back_edges_ = other.back_edges_;
  visit_epoch_ = 0;
  return *this;
}

LockOrderGraph::NodeData* LockOrderGraph::At(Node x) {
  if (NodeData* n = Find(x)) return n;
  const uint32_t c = x >> kChunkBits;
  if (c >= kMaxChunks) return nullptr;
  auto* fresh = new (std::nothrow) NodeData[kChunkNodes];
  if (fresh == nullptr) return nullptr;
  NodeData* expected = nullptr;
  if (!chunks_[c].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
    delete[] fresh;  // another thread made it first
  }
  return Find(x);
}

// Held for an append, which may allocate (and so wait for the arena's mutex): a waiter spins
// a while, then yields its CPU to the holder.
LockOrderGraph::Busy::Busy(NodeData& n) : n_(n) {
  for (int spins = 0; n_.busy.exchange(true, std::memory_order_acquire);) {
    while (n_.busy.load(std::memory_order_relaxed)) {
      if (++spins < 1024) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        sched_yield();
      }
    }
  }
}

LockOrderGraph::NodeData& LockOrderGraph::Ensure(Node x, Side side) {
  NodeData& n = *At(x);
  if (!n.present.load(std::memory_order_relaxed)) {
    n.rank.store(FreshRank(side), std::memory_order_relaxed);
    n.present.store(true, std::memory_order_relaxed);
  }
  return n;
}

const LockOrderGraph::NodeList LockOrderGraph::kNoNodes;

LockOrderGraph::NodeList& LockOrderGraph::NodeList::operator=(const NodeList& other) {
  if (this == &other) return *this;
  Release();
  if (other.size_ == 0) return *this;
  data_ = new Node[other.size_];
  std::copy(other.begin(), other.end(), data_);
  size_ = capacity_ = other.size_;
  return *this;
}

bool LockOrderGraph::NodeList::Contains(Node x) const { return std::find(begin(), end(), x) != end(); }

uint32_t LockOrderGraph::NodeList::Count(Node x) const {
  return static_cast<uint32_t>(std::count(begin(), end(), x));
}

void LockOrderGraph::NodeList::Append(Node x) {
  if (size_ == capacity_) {
    const uint32_t grown = capacity_ == 0 ? kFirstAdjacency : capacity_ * 2;
    Node* fresh = new Node[grown];
    std::copy(begin(), end(), fresh);
    delete[] data_;
    data_ = fresh;
    capacity_ = grown;
  }
  data_[size_++] = x;
}

void LockOrderGraph::NodeList::Erase(Node x) {
  Node* it = std::find(data_, data_ + size_, x);
  if (it == data_ + size_) return;
  *it = data_[--size_];
}

void LockOrderGraph::NodeList::Release() {
  delete[] data_;
  data_ = nullptr;
  size_ = capacity_ = 0;
}

bool LockOrderGraph::HasEdge(Node x, Node y) const {
  const NodeData* n = Find(x);
  if (n == nullptr || !n->present.load(std::memory_order_relaxed)) return false;
  return n->out.Contains(y) || n->BackOut().Contains(y);
}

bool LockOrderGraph::IsBackEdge(Node x, Node y) const {
  const NodeData* n = Find(x);
  if (n == nullptr) return false;
  return n->BackOut().Contains(y);
}

bool LockOrderGraph::TryInsertOrdered(Node x, Node y) {
  if (x == y) return false;
  NodeData* nx = At(x);
  NodeData* ny = At(y);
  if (nx == nullptr || ny == nullptr) return false;
  // A node's rank is written once, when it becomes present, under its flag; it changes later
  // only in a reorder (exclusive mode, not now). So once read present, its rank holds.
  auto ensure = [this](NodeData& n, Side side) {
    if (n.present.load(std::memory_order_acquire)) return;
    Busy busy(n);
    if (n.present.load(std::memory_order_relaxed)) return;
    n.rank.store(FreshRank(side), std::memory_order_relaxed);
    n.present.store(true, std::memory_order_release);
  };
  ensure(*nx, Side::kFrom);
  ensure(*ny, Side::kTo);
  if (nx->rank.load(std::memory_order_relaxed) >= ny->rank.load(std::memory_order_relaxed)) {
    return false;
  }
  {
    Busy busy(*nx);
    nx->out.Append(y);
  }
  {
    Busy busy(*ny);
    ny->in.Append(x);
  }
  return true;
}

bool LockOrderGraph::InsertEdge(Node x, Node y, bool* closes_cycle, bool known_absent) {
  *closes_cycle = false;
  if (At(x) == nullptr || At(y) == nullptr) return false;  // out of memory
  NodeData& nx = Ensure(x, Side::kFrom);
  NodeData& ny = Ensure(y, Side::kTo);
  if (!known_absent && HasEdge(x, y)) return false;
  if (x == y) {
    *closes_cycle = true;
    nx.Back().out.Append(y);
    ny.Back().in.Append(x);
    ++back_edges_;
    return true;
  }
  const int64_t rx = nx.rank.load(std::memory_order_relaxed);
  const int64_t ry = ny.rank.load(std::memory_order_relaxed);
  if (rx < ry) {
    nx.out.Append(y);
    ny.in.Append(x);
    return true;
  }
  // Pearce-Kelly: the affected region is ranks in [rank(y), rank(x)].
  ++visit_epoch_;
  deltaf_.clear();
  if (!ForwardDfs(y, rx, x)) {
    *closes_cycle = true;
    nx.Back().out.Append(y);
    ny.Back().in.Append(x);
    ++back_edges_;
    return true;
  }
  deltab_.clear();
  BackwardDfs(x, ry);
  Reorder();
  nx.out.Append(y);
  ny.in.Append(x);
  return true;
}

// Visits DAG successors of n with rank < upper_bound; false when `target` is reachable.
bool LockOrderGraph::ForwardDfs(Node n, int64_t upper_bound, Node target) {
  stack_.clear();
  stack_.push_back(n);
  while (!stack_.empty()) {
    NodeData& cur = N(stack_.back());
    const Node cur_id = stack_.back();
    stack_.pop_back();
    if (cur.visited == visit_epoch_) continue;
    cur.visited = visit_epoch_;
    deltaf_.push_back(cur_id);
    for (Node s : cur.out) {
      if (s == target) return false;
      const NodeData& ns = N(s);
      if (ns.visited != visit_epoch_ && ns.rank.load(std::memory_order_relaxed) < upper_bound) {
        stack_.push_back(s);
      }
    }
  }
  return true;
}

void LockOrderGraph::BackwardDfs(Node n, int64_t lower_bound) {
  stack_.clear();
  stack_.push_back(n);
  while (!stack_.empty()) {
    NodeData& cur = N(stack_.back());
    const Node cur_id = stack_.back();
    stack_.pop_back();
    if (cur.visited == visit_epoch_) continue;
    cur.visited = visit_epoch_;
    deltab_.push_back(cur_id);
    for (Node p : cur.in) {
      const NodeData& np = N(p);
      if (np.visited != visit_epoch_ && np.rank.load(std::memory_order_relaxed) > lower_bound) {
        stack_.push_back(p);
      }
    }
  }
}

// Gives the nodes that must precede (deltab) the lowest ranks of the region, then deltaf.
void LockOrderGraph::Reorder() {
  auto by_rank = [this](Node a, Node b) { return Rank(a) < Rank(b); };
  std::sort(deltab_.begin(), deltab_.end(), by_rank);
  std::sort(deltaf_.begin(), deltaf_.end(), by_rank);
  std::vector<int64_t> ranks;
  ranks.reserve(deltab_.size() + deltaf_.size());
  for (Node n : deltab_) ranks.push_back(Rank(n));
  for (Node n : deltaf_) ranks.push_back(Rank(n));
  std::sort(ranks.begin(), ranks.end());
  size_t i = 0;
  for (Node n : deltab_) N(n).rank.store(ranks[i++], std::memory_order_relaxed);
  for (Node n : deltaf_) N(n).rank.store(ranks[i++], std::memory_order_relaxed);
}

void LockOrderGraph::RemoveNode(Node x) {
  NodeData* found = Find(x);
  if (found == nullptr || !found->present.load(std::memory_order_relaxed)) return;
  NodeData& n = *found;
  // Count first: a self edge x->x sits in both of x's back lists, and the first loop below
  // erases it from x's own `in` list.
  if (n.back != nullptr) {
    const size_t self = n.back->out.Count(x);
    back_edges_ -= n.back->out.size() + n.back->in.size() - self;
    for (Node s : n.back->out) N(s).Back().in.Erase(x);
    for (Node p : n.back->in) N(p).Back().out.Erase(x);
    delete n.back;
    n.back = nullptr;
  }
  for (Node s : n.out) N(s).in.Erase(x);
  for (Node p : n.in) N(p).out.Erase(x);
  n.out.Release();
  n.in.Release();
  n.rank.store(0, std::memory_order_relaxed);
  n.present.store(false, std::memory_order_relaxed);
}

std::vector<LockOrderGraph::Node> LockOrderGraph::Successors(Node x) const {
  std::vector<Node> r;
  const NodeData* n = Find(x);
  if (n == nullptr) return r;
  r.assign(n->out.begin(), n->out.end());
  r.insert(r.end(), n->BackOut().begin(), n->BackOut().end());
  return r;
}

std::vector<LockOrderGraph::Node> LockOrderGraph::Predecessors(Node x) const {
  std::vector<Node> r;
  const NodeData* n = Find(x);
  if (n == nullptr) return r;
  r.assign(n->in.begin(), n->in.end());
  r.insert(r.end(), n->BackIn().begin(), n->BackIn().end());
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
    if (Find(s.node) == nullptr) continue;
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

size_t LockOrderGraph::EdgeCount() const {
  size_t edges = 0;
  for (uint32_t c = 0; c < kMaxChunks; ++c) {
    const NodeData* chunk = chunks_[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    for (uint32_t i = 0; i < kChunkNodes; ++i) edges += chunk[i].out.size() + chunk[i].BackOut().size();
  }
  return edges;
}

bool LockOrderGraph::CheckInvariants() const {
  size_t edges = 0, back = 0, in_edges = 0;
  for (uint32_t c = 0; c < kMaxChunks; ++c) {
    if (chunks_[c].load(std::memory_order_acquire) == nullptr) continue;
    for (Node x = c << kChunkBits; x < ((c + 1) << kChunkBits); ++x) {
      const NodeData& n = N(x);
      if (!n.present.load(std::memory_order_relaxed)) {
        if (!n.out.empty() || !n.in.empty() || !n.BackOut().empty() || !n.BackIn().empty()) {
          return false;
        }
        continue;
      }
      for (Node s : n.out) {
        const NodeData* ns = Find(s);
        if (ns == nullptr || !ns->present.load(std::memory_order_relaxed) ||
            Rank(x) >= Rank(s)) {
          return false;
        }
        if (!ns->in.Contains(x)) return false;
        if (IsBackEdge(x, s)) return false;
        ++edges;
      }
      for (Node s : n.BackOut()) {
        const NodeData* ns = Find(s);
        if (ns == nullptr) return false;
        if (!ns->BackIn().Contains(x)) return false;
        ++edges;
        ++back;
      }
      in_edges += n.in.size() + n.BackIn().size();
      for (Node p : n.in) {
        const NodeData* np = Find(p);
        if (np == nullptr) return false;
        if (!np->out.Contains(x)) return false;
      }
    }
  }
  return edges == in_edges && back == back_edges_;
}

}  // namespace lockaudit::core
