// The lock-order detector (lock_order.h).
#include "lock_order.h"

#include <sched.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "hash.h"
#include "provider.h"

namespace lockaudit::core {

namespace {

// Canonical rotation of a cycle so that each distinct cycle is reported once.
std::vector<NodeId> CanonicalCycle(const std::vector<NodeId>& c) {
  size_t m = std::min_element(c.begin(), c.end()) - c.begin();
  std::vector<NodeId> r;
  r.reserve(c.size());
  for (size_t i = 0; i < c.size(); ++i) r.push_back(c[(m + i) % c.size()]);
  return r;
}

uint8_t ModeBit(uint32_t flags) { return (flags & kShared) ? 2 : 1; }

void SetThread(EdgeRecord& r, const Acquisition& a) {
  r.tid = a.tid;
  const size_t len = strnlen(a.thread_name, sizeof r.thread_name - 1);
  memcpy(r.thread_name, a.thread_name, len);
  memset(r.thread_name + len, 0, sizeof r.thread_name - len);
  r.incarnation = static_cast<uint32_t>(a.incarnation);
}

}  // namespace

// The edge sources of acquisition `a`, as indices into a.held in acquisition order (lockdep's
// rule, check_prevs_add): from the innermost held lock outwards, up to and including the first
// one that was taken exclusively by a blocking call and is still live. A lock that was only
// try-acquired has no edge into it from the locks held before it (a try cannot deadlock), and
// a lock held shared does not carry the order of the exclusive locks outside it (two readers
// do not block each other), so the edge from the lock outside such an entry is learned here,
// directly; any edge further out is implied by the chain of direct edges between the held
// locks, each learned when the next was taken. At most kEdgeWindow entries.
uint32_t LockOrder::WindowOf(const Acquisition& a, uint32_t* window) const {
  uint32_t inner[kEdgeWindow];  // innermost first
  uint32_t m = 0;
  for (uint32_t i = a.held_count; i-- > 0 && m < kEdgeWindow;) {
    const HeldLock& h = a.held[i];
    if (h.id == a.id) continue;
    inner[m++] = i;
    if (CarriesOrder(h.flags) && host_.IsLive(h.id)) break;
  }
  for (uint32_t k = 0; k < m; ++k) window[k] = inner[m - 1 - k];
  return m;
}

bool LockOrder::AllSaturated(const Acquisition& a, Window* out) const {
  Window local;
  Window& w = out != nullptr ? *out : local;
  w.count = WindowOf(a, w.index);
  const uint8_t to_mode = ModeBit(a.flags);
  for (uint32_t k = 0; k < w.count; ++k) {
    const HeldLock& h = a.held[w.index[k]];
    if (!saturated_.Contains(KnownEdges::Key(h.id, a.id, ModeBit(h.flags), to_mode))) return false;
  }
  return true;
}

// Remembers a saturated edge for every mode pair its observations cover: no gate left, and
// already seen by two threads (so another thread's observation cannot change multi_thread).
void LockOrder::MarkSaturated(const EdgeRecord& r) {
  if (r.ngates != 0 || !r.multi_thread) return;
  for (uint8_t fm : {uint8_t{1}, uint8_t{2}}) {
    for (uint8_t tm : {uint8_t{1}, uint8_t{2}}) {
      if ((r.from_modes & fm) && (r.to_modes & tm)) {
        saturated_.Insert(KnownEdges::Key(r.from, r.to, fm, tm));
      }
    }
  }
}

// May the new direct edge from->to have its line written? A pair's count lives in a lock-free
// table (once over its budget, a pair costs one read: two threads learning edges of one code
// path share its line without writing it); past kLineProbe collisions, in a striped map.
bool LockOrder::TakeEdgeLine(NodeId from, NodeId to, uint64_t* dropped) {
  const uint64_t key = Mix64(host_.NamingKey(from) ^ Mix64(host_.NamingKey(to) + 1)) | 1;
  for (uint32_t i = 0; i < kLineProbe; ++i) {
    LineSlot& slot = line_slots_[(key + i) & (kLineSlots - 1)];
    uint64_t k = slot.key.load(std::memory_order_acquire);
    if (k == 0 && slot.key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) k = key;
    if (k != key) continue;
    if (slot.count.load(std::memory_order_relaxed) >= kEdgeLinesPerPair ||
        slot.count.fetch_add(1, std::memory_order_relaxed) >= kEdgeLinesPerPair) {
      ++*dropped;
      return false;
    }
    return true;
  }
  LineStripe& stripe = lines_[key % kLineStripes];
  EngineLock lock(stripe.mu);
  uint32_t& count = stripe.counts[key];
  if (count >= kEdgeLinesPerPair) {
    ++*dropped;
    return false;
  }
  ++count;
  return true;
}

// The records of the cycle through c.nodes.
void LockOrder::FillCycleEdges(CycleFinding& c) {
  for (size_t k = 0; k < c.nodes.size(); ++k) {
    NodeId from = c.nodes[k], to = c.nodes[(k + 1) % c.nodes.size()];
    const EdgeRecord* r = TableOf(from, to).Find(from, to);
    EdgeRecord none;
    none.from = from;
    none.to = to;
    c.edges.push_back(r != nullptr ? *r : none);
  }
}

// Why the cycle cannot deadlock as observed, or "". Only when every edge was taken by one
// thread so far, and by whole thread lives (one edge's thread joined before another's was
// created): a thread's own later observations of an edge reach the detector only when their
// context is new, so "taken before the other thread was created" could not be trusted.
std::string LockOrder::OrderedReasonOf(const CycleFinding& c) {
  for (const EdgeRecord& r : c.edges) {
    if (r.multi_thread || r.incarnation == 0) return "";
  }
  for (size_t i = 0; i < c.edges.size(); ++i) {
    for (size_t j = i + 1; j < c.edges.size(); ++j) {
      std::string why =
          host_.OrderedReason(c.edges[i].incarnation, "edge " + std::to_string(i + 1),
                              c.edges[j].incarnation, "edge " + std::to_string(j + 1));
      if (!why.empty()) return why;
    }
  }
  return "";
}

void LockOrder::ForgetOrderedCycle(const std::vector<NodeId>& nodes) {
  for (size_t k = 0; k < nodes.size(); ++k) {
    auto it = ordered_cycles_.find({nodes[k], nodes[(k + 1) % nodes.size()]});
    if (it == ordered_cycles_.end()) continue;
    std::erase(it->second, nodes);
    if (it->second.empty()) ordered_cycles_.erase(it);
  }
  ordered_any_.store(!ordered_cycles_.empty(), std::memory_order_relaxed);
}

// A second thread takes from->to: the cycles reported as ordered through it can deadlock after
// all, and are reported again with this thread's observation of the edge.
void LockOrder::ReportAgain(NodeId from, NodeId to, const Acquisition& a, StackId stack,
                            StackId held_stack, LearnResult* out) {
  auto ordered = ordered_cycles_.find({from, to});
  if (ordered == ordered_cycles_.end()) return;
  const std::vector<std::vector<NodeId>> again = ordered->second;
  for (const std::vector<NodeId>& nodes : again) {
    ForgetOrderedCycle(nodes);
    CycleFinding c;
    c.nodes = nodes;
    c.again = true;
    FillCycleEdges(c);
    for (EdgeRecord& edge : c.edges) {
      if (edge.from != from || edge.to != to) continue;
      SetThread(edge, a);  // the thread that makes the cycle possible
      if (stack != 0) edge.stack = stack;
      if (held_stack != 0) edge.held_stack = held_stack;
    }
    out->cycles.push_back(std::move(c));
  }
}

void LockOrder::FindCycles(const std::vector<std::pair<NodeId, NodeId>>& to_check,
                           LearnResult* out) {
  auto props = [this](LockOrderGraph::Node x, LockOrderGraph::Node y)
                   LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {  // called inside FindCycle, mu_ held
    const EdgeRecord* r = ShardOf(x, y).edges.FindByIndex(x, y);
    return r == nullptr ? LockOrderGraph::EdgeProps{} : r->Props();
  };
  for (const auto& [x, y] : to_check) {
    std::vector<LockOrderGraph::Node> found = graph_.FindCycle(IndexOf(x), IndexOf(y), props);
    if (found.empty()) continue;
    CycleFinding c;
    for (LockOrderGraph::Node idx : found) c.nodes.push_back(host_.IdAt(idx));
    if (!reported_cycles_.insert(CanonicalCycle(c.nodes)).second) continue;
    FillCycleEdges(c);
    c.ordered_reason = OrderedReasonOf(c);
    if (!c.ordered_reason.empty()) {
      for (size_t k = 0; k < c.nodes.size(); ++k) {
        ordered_cycles_[{c.nodes[k], c.nodes[(k + 1) % c.nodes.size()]}].push_back(c.nodes);
      }
      ordered_any_.store(true, std::memory_order_relaxed);
    }
    out->cycles.push_back(std::move(c));
  }
}

void LockOrder::Learn(const Acquisition& a, LearnResult* out) {
  Window w;
  w.count = WindowOf(a, w.index);
  Learn(a, w, out);
}

void LockOrder::Learn(const Acquisition& a, const Window& w, LearnResult* out) {
  const NodeId id = a.id;
  const HeldLock* held = a.held;
  const uint32_t n = a.held_count;
  // Gate candidates: the first kMaxGates + 1 locks held exclusively (an edge's own `from` is
  // left out of its gates). Only a lock held exclusively keeps other threads out: two readers
  // of G do not exclude each other, so a lock held shared is no gate.
  constexpr uint32_t kMaxGates = EdgeRecord::kMaxGates;
  uint64_t candidates[kMaxGates + 1];
  uint32_t ncandidates = 0;
  for (uint32_t k = 0; k < n && k < kGateScan && ncandidates < kMaxGates + 1; ++k) {
    const HeldLock& h = held[k];
    if (h.id == id || (h.flags & kShared)) continue;
    if (std::find(candidates, candidates + ncandidates, h.id) != candidates + ncandidates) continue;
    candidates[ncandidates++] = h.id;
  }
  auto gates_of = [&](NodeId from, uint64_t* gates) -> uint8_t {
    uint8_t m = 0;
    for (uint32_t k = 0; k < ncandidates && m < kMaxGates; ++k) {
      if (candidates[k] != from) gates[m++] = candidates[k];
    }
    std::sort(gates, gates + m);
    return m;
  };
  // The evidence of the window's edges: what the host already knows for this context's sites
  // (the usual case: one code path, many locks); captured only when an edge is new and its
  // evidence unknown, with mu_ released.
  const uint32_t* window = w.index;
  const uint32_t nwindow = w.count;
  // The locks just outside the window, nearest first: their edges to `id` are implied through
  // held[window[0]], and are learned from that edge's record should held[window[0]] be
  // destroyed (Forget). They pass over locks only try-acquired or held shared, as WindowOf
  // does (those carry no order).
  NodeId outers[EdgeRecord::kOuters] = {};
  if (nwindow != 0) {
    uint32_t nouters = 0;
    const NodeId nearest = held[window[0]].id;
    const uint32_t bottom = n > kTopScan ? n - kTopScan : 0;
    for (uint32_t i = window[0]; i-- > bottom && nouters < EdgeRecord::kOuters;) {
      const HeldLock& h = held[i];
      if (h.id == id || h.id == nearest || !CarriesOrder(h.flags)) continue;
      if (!host_.IsLive(h.id)) continue;  // as WindowOf: a destroyed lock carries no order
      if (std::find(outers, outers + nouters, h.id) != outers + nouters) continue;
      outers[nouters++] = h.id;
    }
  }
  StackId stack = 0;
  StackId window_stacks[kEdgeWindow] = {};
  const bool have_evidence =
      nwindow == 0 || host_.CaptureEvidence(a, window, nwindow, &stack, window_stacks, true);
  const uint32_t slot = a.tid % kReaderSlots;
  bool any_new = false;
  if (!have_evidence) {
    auto find_any_new = [&](bool shared) LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
      for (uint32_t k = 0; k < nwindow && !any_new; ++k) {
        const NodeId from = held[window[k]].id;
        Shard& sh = ShardOf(IndexOf(from), IndexOf(id));
        if (shared) sh.mu.lock();
        any_new = sh.edges.Find(from, id) == nullptr;
        if (shared) sh.mu.unlock();
      }
    };
    if (EnterShared(slot)) {
      find_any_new(true);
      LeaveShared(slot);
    } else {
      ExclusiveLock lock(*this);
      find_any_new(false);
    }
  }
  if (any_new) host_.CaptureEvidence(a, window, nwindow, &stack, window_stacks, false);
  // Bit 4: a read request that queues behind writers (kWriterPreferring): not "shared only" for
  // the read-read rule of FindCycle, which exempts only requests no reader can block.
  const uint8_t to_mode = static_cast<uint8_t>(
      ModeBit(a.flags) | ((a.flags & kShared) && (a.flags & kWriterPreferring) ? 4 : 0));
  // One edge of the window, with its shard's table: 1 when the shared mode must leave it (and
  // the rest) to the exclusive mode, which then finds the edges done so far already learned.
  std::vector<std::pair<NodeId, NodeId>> to_check;
  const bool lines = host_.WantsEdgeLines();
  auto learn_edge = [&](uint32_t k, bool shared) LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS -> int {
    const uint32_t i = window[k];
    const HeldLock& h = held[i];
    host_.MarkInGraph(h.id);
    if (!host_.IsLive(h.id)) return 0;
    uint64_t gates[kMaxGates];
    const uint8_t ngates = gates_of(h.id, gates);
    const uint8_t from_mode = ModeBit(h.flags);
    Shard& sh = ShardOf(IndexOf(h.id), IndexOf(id));
    if (shared) sh.mu.lock();
    struct Unlock {
      EngineMutex* mu;
      ~Unlock() LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
        if (mu != nullptr) mu->unlock();
      }
    } unlock{shared ? &sh.mu : nullptr};
    EdgeTable::Emplaced how;
    EdgeRecord* r = nullptr;
    if (!shared) {
      r = sh.edges.Emplace(h.id, id, &how);
    } else {
      const EdgeTable::Place place = sh.edges.Locate(h.id, id);
      if (place.stale) return 1;
      if ((r = place.record) != nullptr) {
        how = EdgeTable::Emplaced::kFound;
      } else {
        // A new edge: only one that agrees with the order, so no reorder and no cycle; the
        // rest wait for the exclusive mode (nothing changed but a fresh lock's first rank).
        if (!graph_.TryInsertOrdered(IndexOf(h.id), IndexOf(id))) return 1;
        r = sh.edges.InsertAt(place, h.id, id);  // (the shard's mutex held since Locate)
        how = EdgeTable::Emplaced::kInserted;
      }
    }
    if (r == nullptr) return 0;  // out of memory: not learned
    if (how != EdgeTable::Emplaced::kFound) {
      bool closes = false;
      if (how == EdgeTable::Emplaced::kStale) {
        // A record of earlier locks at these indices (never expected: a lock's edges go with
        // it, Forget): the graph has the edge; the record starts again.
        *r = EdgeRecord();
        r->from = h.id;
        r->to = id;
        closes = graph_.IsBackEdge(IndexOf(h.id), IndexOf(id));
      } else if (!shared) {
        graph_.InsertEdge(IndexOf(h.id), IndexOf(id), &closes, /*known_absent=*/true);
      }
      memcpy(r->gates, gates, sizeof(uint64_t) * ngates);
      r->ngates = ngates;
      r->from_modes = from_mode;
      r->to_modes = to_mode;
      SetThread(*r, a);
      r->stack = stack;
      r->held_stack = window_stacks[k];
      if (k == 0) memcpy(r->outers, outers, sizeof(outers));
      r->posted = lines && TakeEdgeLine(h.id, id, &sh.dropped);
      MarkSaturated(*r);
      ++sh.learned;
      if (r->posted) out->new_edges.push_back(*r);
      if (closes || graph_.BackEdgeCount() > 0) to_check.push_back({h.id, id});
      return 0;
    }
    if (k == 0 && r->outers[0] == 0) memcpy(r->outers, outers, sizeof(outers));
    bool changed = false;
    uint64_t both[kMaxGates];
    const uint8_t nboth = static_cast<uint8_t>(
        std::set_intersection(r->gates, r->gates + r->ngates, gates, gates + ngates, both) - both);
    if (nboth != r->ngates) {
      memcpy(r->gates, both, sizeof(uint64_t) * nboth);
      r->ngates = nboth;
      changed = true;
    }
    if ((r->from_modes | from_mode) != r->from_modes || (r->to_modes | to_mode) != r->to_modes) {
      r->from_modes |= from_mode;
      r->to_modes |= to_mode;
      changed = true;
    }
    if (r->incarnation != static_cast<uint32_t>(a.incarnation) && !r->multi_thread) {
      r->multi_thread = true;
      changed = true;
      // (The shared mode runs only while no cycle is reported as ordered: nothing to report.)
      if (!shared) ReportAgain(h.id, id, a, stack, window_stacks[k], out);
    }
    if (changed) MarkSaturated(*r);
    if (changed && graph_.BackEdgeCount() > 0) to_check.push_back({h.id, id});
    if (changed && r->posted) out->changed_edges.push_back(*r);
    return 0;
  };
  // The shared mode first: while the graph has no back edge and no cycle is reported as
  // ordered, an edge that agrees with the order, and an edge already known, change nothing a
  // cycle search or another edge depends on; other threads learn theirs at the same time.
  if (EnterShared(slot)) {
    bool done = false;
    if (graph_.BackEdgeCount() == 0 && !ordered_any_.load(std::memory_order_relaxed)) {
      done = true;
      if (host_.IsLive(id)) {
        host_.MarkInGraph(id);
        if (host_.IsLive(id)) {
          for (uint32_t k = 0; k < nwindow && done; ++k) done = learn_edge(k, true) == 0;
        }
      }
    }
    LeaveShared(slot);
    if (done) return;
  }
  ExclusiveLock lock(*this);
  ++exclusive_learns_;
  if (!host_.IsLive(id)) return;
  host_.MarkInGraph(id);
  if (!host_.IsLive(id)) return;
  for (uint32_t k = 0; k < nwindow; ++k) learn_edge(k, false);
  FindCycles(to_check, out);
}

// Before its edges go, each edge x->y learned while locks were held outside x (its `outers`,
// of one observation) stands for o->y, o the nearest of them whose order into x is still
// known (o->x, direct or itself implied: an outer lock destroyed before x left its own outer
// lock's edge into x): that edge is learned now, from the records of o->x and x->y, so that
// destroying a lock taken in the middle of a nest (a per-request object's lock between two
// global ones) does not lose the order of the locks around it. y may be dead too, not yet
// forgotten (one free() of an object with two nested mutexes): its own Forget carries the
// order on. Where o->y is already known, the implied observation is merged into it (fewer
// gates, more modes), as another observation of o->y would be. The cycles through x were found
// while x lived; the implied edge is not searched for new ones.
void LockOrder::Forget(NodeId id) {
  ExclusiveLock lock(*this);
  const uint32_t x = IndexOf(id);
  // The cycles reported as ordered through this lock can no longer be taken again (and while
  // any is kept, every Learn takes the exclusive mode).
  if (!ordered_cycles_.empty()) {
    std::set<std::vector<NodeId>> through;
    for (const auto& [edge, cycles] : ordered_cycles_) {
      if (edge.first != id && edge.second != id) continue;
      through.insert(cycles.begin(), cycles.end());
    }
    for (const std::vector<NodeId>& nodes : through) ForgetOrderedCycle(nodes);
  }
  for (LockOrderGraph::Node y : graph_.Successors(x)) {
    const EdgeRecord* xy = ShardOf(x, y).edges.FindByIndex(x, y);
    if (xy == nullptr || xy->from != id || xy->outers[0] == 0) continue;
    uint32_t j = 0;
    const EdgeRecord* ox = nullptr;
    for (; j < EdgeRecord::kOuters && xy->outers[j] != 0; ++j) {
      if ((ox = TableOf(xy->outers[j], id).Find(xy->outers[j], id)) != nullptr) break;
    }
    if (ox == nullptr || ox->from == xy->to) continue;
    const NodeId o = ox->from;
    // The locks held around y's acquisitions under x, less o itself (an edge's own `from` is
    // no gate of it): what o->y learned in the nest would have had, x aside.
    uint64_t gates[EdgeRecord::kMaxGates];
    const uint8_t ngates = static_cast<uint8_t>(
        std::remove_copy(xy->gates, xy->gates + xy->ngates, gates, static_cast<uint64_t>(o)) -
        gates);
    if (EdgeRecord* oy = TableOf(o, xy->to).Find(o, xy->to)) {
      uint64_t both[EdgeRecord::kMaxGates];
      oy->ngates = static_cast<uint8_t>(
          std::set_intersection(oy->gates, oy->gates + oy->ngates, gates, gates + ngates, both) -
          both);
      memcpy(oy->gates, both, sizeof(uint64_t) * oy->ngates);
      oy->from_modes |= ox->from_modes;
      oy->to_modes |= xy->to_modes;
      oy->multi_thread |= xy->multi_thread || oy->incarnation != xy->incarnation;
      MarkSaturated(*oy);
      continue;
    }
    if (ShardOf(IndexOf(o), y).edges.FindByIndex(IndexOf(o), y) != nullptr) continue;  // a stale record (never expected)
    EdgeRecord implied = *xy;  // the thread and stack that took y
    implied.from = o;
    implied.from_modes = ox->from_modes;
    implied.held_stack = ox->held_stack;  // where o was taken
    memcpy(implied.gates, gates, sizeof(gates));
    implied.ngates = ngates;
    // The locks outside o in the same observation as x->y.
    NodeId outers[EdgeRecord::kOuters] = {};
    for (uint32_t k = j + 1; k < EdgeRecord::kOuters; ++k) outers[k - j - 1] = xy->outers[k];
    memcpy(implied.outers, outers, sizeof(outers));
    implied.posted = false;  // `graph` and `merge` rebuild it from the lines of o->x and x->y
    implied.implied = true;
    EdgeRecord* r = TableOf(implied.from, implied.to).Insert(implied.from, implied.to);
    if (r == nullptr) break;  // out of memory
    *r = implied;
    bool closes = false;
    graph_.InsertEdge(IndexOf(implied.from), y, &closes, /*known_absent=*/true);
    MarkSaturated(*r);
    ++edges_implied_;
  }
  for (LockOrderGraph::Node y : graph_.Successors(x)) ShardOf(x, y).edges.Erase(x, y);
  for (LockOrderGraph::Node w : graph_.Predecessors(x)) ShardOf(w, x).edges.Erase(w, x);
  graph_.RemoveNode(x);
}

bool LockOrder::CurrentEdge(NodeId from, NodeId to, EdgeRecord* out) {
  ExclusiveLock lock(*this);
  const EdgeRecord* r = TableOf(from, to).Find(from, to);
  if (r == nullptr) return false;
  *out = *r;
  return true;
}

LockOrder::Counts LockOrder::GetCounts() {
  ExclusiveLock lock(*this);
  Counts c;
  for (const Shard& sh : shards_) {
    c.edges_learned += sh.learned;
    c.edge_lines_dropped += sh.dropped;
    c.live_edges += sh.edges.size();
  }
  c.edges_implied = edges_implied_;
  c.exclusive_learns = exclusive_learns_;
  return c;
}

void LockOrder::Reserve() {
  ExclusiveLock lock(*this);
  for (Shard& sh : shards_) sh.edges.Reserve();
  graph_.Reserve();
}

// The shared mode's gate (lock_order.h): per slot, a count of the threads inside; and the
// flag of an exclusive holder waiting for them to drain. A thread entering counts itself in
// its slot, then checks the flag; the holder raises the flag, then reads each slot (all
// seq_cst: either the entering thread sees the flag and leaves, or the holder sees it counted
// and waits for it). Slots by thread: two threads learning at once do not share a line.
bool LockOrder::EnterShared(uint32_t slot) {
  for (int attempt = 0;; ++attempt) {
    readers_[slot].count.fetch_add(1, std::memory_order_seq_cst);
    if (!writer_.load(std::memory_order_seq_cst)) return true;
    LeaveShared(slot);
    // An exclusive section (a reorder, a lock's destruction) is short: wait it out rather
    // than queue for the exclusive mode behind it, for a while.
    if (attempt == 2) return false;
    for (int spins = 0; spins < 2048 && writer_.load(std::memory_order_relaxed); ++spins) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }
}

void LockOrder::LeaveShared(uint32_t slot) {
  std::atomic<uint32_t>& count = readers_[slot].count;
  if (count.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      writer_.load(std::memory_order_seq_cst)) {
    RawFutex(reinterpret_cast<uint32_t*>(&count), FUTEX_WAKE_PRIVATE, INT32_MAX);
  }
}

void LockOrder::DrainShared() {
  writer_.store(true, std::memory_order_seq_cst);
  for (ReaderSlot& slot : readers_) {
    for (int spins = 0;; ++spins) {
      const uint32_t r = slot.count.load(std::memory_order_seq_cst);
      if (r == 0) break;
      if (spins < 1024) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
        continue;
      }
      RawFutex(reinterpret_cast<uint32_t*>(&slot.count), FUTEX_WAIT_PRIVATE, r);
    }
  }
}

void LockOrder::ExclusiveBegin() {
  mu_.lock();
  DrainShared();
}

void LockOrder::ExclusiveEnd() {
  writer_.store(false, std::memory_order_release);
  mu_.unlock();
}

// Bounded, as the rest of the prefork handler: a thread in the shared mode takes no mutex the
// handler holds, but the handler may run in a signal handler that interrupted such a thread.
bool LockOrder::ForkPrepared() {
  writer_.store(true, std::memory_order_seq_cst);
  for (ReaderSlot& slot : readers_) {
    for (int waits = 0; slot.count.load(std::memory_order_seq_cst) != 0; ++waits) {
      if (waits == 2000) {  // about 2,000 yields: the caller lets go and tries again
        writer_.store(false, std::memory_order_release);
        return false;
      }
      if (waits < 1000) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        sched_yield();
      }
    }
  }
  return true;
}
void LockOrder::ForkParent() { writer_.store(false, std::memory_order_release); }

void LockOrder::ResetAfterFork() noexcept {
  mu_.ResetAfterFork();
  for (ReaderSlot& slot : readers_) slot.count.store(0, std::memory_order_relaxed);
  writer_.store(false, std::memory_order_relaxed);
  for (Shard& sh : shards_) sh.mu.ResetAfterFork();
  for (LineStripe& stripe : lines_) stripe.mu.ResetAfterFork();
}

}  // namespace lockaudit::core
