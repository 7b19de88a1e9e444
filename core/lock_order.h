// LockOrder: the lock-order detector. Learns "B acquired while A held" edges from acquisitions,
// keeps their evidence, and finds the potential deadlocks (cycles) a new or changed edge closes.
// It knows nothing of threads' states, lock names, stacks' contents or reports: what it needs of
// the engine comes through LockOrderHost (is a lock live, capture the evidence of an
// acquisition, ...), and what it finds comes back as data (LearnResult): the caller builds the
// messages and publishes them after the detector's mutex is released. Modelled on compiler-rt's
// split between its deadlock detector and the callback host, and on Abseil's deadlock graph
// (every method says which of the detector's locks it takes).
//
// Owns, all under mu_ (LOCKAUDIT_GUARDED_BY below): the graph (LockOrderGraph, incremental
// topological order), the evidence of every edge (EdgeTable), the cycles already reported, the
// cycles reported as ordered (core/lineage.h) and the edge-line budget per naming pair. Without
// mu_: `saturated_`, a lock-free set of edges no observation can change, read before mu_ is taken
// so that a context whose edges are all saturated costs no lock.
// Thread-safety: every public method may be called from any thread; each takes mu_ itself
// (LOCKAUDIT_EXCLUDES(mu_)). Host calls are made with mu_ held (IsLive, MarkInGraph, IdAt,
// NamingKey, OrderedReason: they must not call back into the detector) except CaptureEvidence,
// which is called without it (unwinding may take the dynamic loader's lock, which a dlopen'ing
// thread holds while it waits for mu_ inside a static constructor).
// Cost: a known edge, or one seen saturated, costs a probe of `saturated_` (no lock); a new edge
// an EdgeTable insert and an incremental reorder of the nodes between its ends (Pearce-Kelly);
// a cycle search runs only for a new or changed edge while the graph has a back edge.
// Memory per edge: one EdgeRecord and its index slots (edge_table.h: 155-184 bytes) plus its
// two adjacency entries (8 bytes) in the graph, whatever the fan-out of its locks.
#ifndef LOCKAUDIT_CORE_LOCK_ORDER_H_
#define LOCKAUDIT_CORE_LOCK_ORDER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edge_table.h"
#include "hash.h"
#include "engine_mutex.h"
#include "known_edges.h"
#include "lock_order_graph.h"
#include "registry.h"
#include "stacks.h"
#include "thread_annotations.h"
#include "thread_state.h"

namespace lockaudit::core {

// One acquisition as the detector sees it: the lock being acquired and the thread's held set.
// The caller has removed held entries it knows to be stale (unlocked by another thread).
struct Acquisition {
  NodeId id = 0;
  uint32_t flags = 0;  // AcquireFlags: kShared, kWriterPreferring are read
  Site site;           // where `id` is being acquired
  const HeldLock* held = nullptr;  // held[0..held_count): acquisition order
  uint32_t held_count = 0;
  uint32_t tid = 0;
  const char* thread_name = "";
  uint64_t incarnation = 0;  // the thread's (core/lineage.h); distinguishes threads
  ThreadState* thread = nullptr;  // the host's own, handed back to it (CaptureEvidence); or null
};

// A cycle the detector found: its nodes in cycle order, from the edge whose learning closed it
// (as recorded, for one reported again), and for each edge nodes[k] -> nodes[k+1 mod n] the
// edge's record as of now.
struct CycleFinding {
  std::vector<NodeId> nodes;
  std::vector<EdgeRecord> edges;
  std::string ordered_reason;  // set: thread creation and join keep two edges apart
  bool again = false;          // reported before as ordered; another thread took one of its edges
};

// What one Learn() found, for the caller to report once the detector's mutex is released.
struct LearnResult {
  std::vector<EdgeRecord> new_edges;      // new direct edges whose line may be written
  std::vector<EdgeRecord> changed_edges;  // edges with a line whose modes or gates changed
  std::vector<CycleFinding> cycles;       // cycles not reported before
  bool empty() const { return new_edges.empty() && changed_edges.empty() && cycles.empty(); }
};

// What the detector asks of the engine it runs in. The tracker implements it over its lock
// registry, the stack depot and core/lineage; tests implement it with tables.
class LockOrderHost {
 public:
  virtual ~LockOrderHost() = default;
  // Is `id` a live lock (the same generation)?
  virtual bool IsLive(NodeId id) = 0;
  // `id` has (or is about to have) edges: its destruction must call LockOrder::Forget(id).
  virtual void MarkInGraph(NodeId id) = 0;
  // The live lock at graph index `index` (its current generation).
  virtual NodeId IdAt(uint32_t index) = 0;
  // The key edge lines are budgeted under (LockOrder::kEdgeLinesPerPair): locks with one name,
  // or made at one site, share it.
  virtual uint64_t NamingKey(NodeId id) = 0;
  // The evidence of the edges held[window[k]] -> a.id: `*stack` for the acquisition and
  // held_stacks[k] for each held lock. `lookup_only`: only what is already known (no unwind);
  // returns whether every stack is known. Called without the detector's mutex.
  virtual bool CaptureEvidence(const Acquisition& a, const uint32_t* window, uint32_t count,
                               StackId* stack, StackId* held_stacks, bool lookup_only) = 0;
  // Why edges taken by thread incarnations x and y cannot run at the same time, or "".
  virtual std::string OrderedReason(uint32_t x, const std::string& x_name, uint32_t y,
                                    const std::string& y_name) = 0;
};

class LockOrder {
 public:
  // An acquisition learns one edge, from the nearest held lock (lockdep's rule): an edge from a
  // lock held further out is implied by the chain of direct edges between the held locks, each
  // learned when the next was taken. Past a lock that was only try-acquired (no edge into it)
  // or is held shared (it does not carry the order of exclusive locks outside it), the next
  // lock out is an edge source too (WindowOf), up to kEdgeWindow of them. So the cost of a new
  // context does not grow with the held depth. Destroying a lock in the middle of a nest keeps
  // the order around it: Forget learns the implied edge (EdgeRecord::outers).
  static constexpr uint32_t kEdgeWindow = 16;
  // The held entries the detector reads from the top, at most: the window, then the locks
  // held outside it (EdgeRecord::outers), which pass over try-acquired and shared entries too.
  // It reads no entry below the first 1 + EdgeRecord::kOuters taken exclusively by a blocking
  // call (the nearest lock and its outer locks), nor below kTopScan.
  static constexpr uint32_t kTopScan = 2 * kEdgeWindow;
  // A held entry that carries the order of the locks outside it into the next one: taken
  // exclusively by a blocking call (WindowOf stops at it; the outer locks are such entries).
  static bool CarriesOrder(uint32_t flags) { return (flags & (kTry | kShared)) == 0; }
  // Gate candidates: the outermost exclusively held locks, among the first kGateScan held.
  static constexpr uint32_t kGateScan = 64;
  // Edge lines per naming pair (code that makes 10,000 locks at one site learns edges between
  // all of them); the rest are counted in EdgeLinesDropped().
  static constexpr uint32_t kEdgeLinesPerPair = 16;

  explicit LockOrder(LockOrderHost& host) : host_(host) {}
  LockOrder(const LockOrder&) = delete;
  LockOrder& operator=(const LockOrder&) = delete;

  // The edge sources of an acquisition (WindowOf): indices into its held set, outermost first.
  struct Window {
    uint32_t index[kEdgeWindow];
    uint32_t count = 0;
  };
  // Lock-free: is every edge `a` would learn already saturated (nothing can change)? Also
  // gives the acquisition's window, for the Learn() that follows when it is not.
  bool AllSaturated(const Acquisition& a, Window* window = nullptr) const;
  // Learns the edges held[i] -> a.id over the window and appends what is new to `out`: new and
  // changed edge lines, cycles not reported before (each distinct cycle once).
  void Learn(const Acquisition& a, LearnResult* out) LOCKAUDIT_EXCLUDES(mu_);
  // The same with the window AllSaturated(a, &window) gave (the held set unchanged since).
  void Learn(const Acquisition& a, const Window& window, LearnResult* out)
      LOCKAUDIT_EXCLUDES(mu_);
  // Maps the edge table's first pages (EdgeTable::Reserve): done at load, where the program
  // holds nothing.
  void Reserve() LOCKAUDIT_EXCLUDES(mu_) {
    EngineLock lock(mu_);
    edges_.Reserve();
  }
  // `id` is destroyed: its edges go (and their records).
  void Forget(NodeId id) LOCKAUDIT_EXCLUDES(mu_);
  // The record of from->to as it is now; false when there is none.
  bool CurrentEdge(NodeId from, NodeId to, EdgeRecord* out) LOCKAUDIT_EXCLUDES(mu_);
  // Calls f(record) for every edge, under mu_ (f must not call the detector).
  template <typename F>
  void ForEachEdge(F&& f) LOCKAUDIT_EXCLUDES(mu_) {
    EngineLock lock(mu_);
    edges_.ForEach(f);
  }
  struct Counts {
    uint64_t edges_learned = 0;       // ever, edges of destroyed locks included
    uint64_t edge_lines_dropped = 0;  // over the kEdgeLinesPerPair budget
    size_t live_edges = 0;
    uint64_t edges_implied = 0;  // learned when a lock in the middle of a nest was destroyed
  };
  Counts GetCounts() LOCKAUDIT_EXCLUDES(mu_);

  // fork(): the prefork handler takes mu_ (with the engine's other mutexes); the child resets it.
  EngineMutex& mutex() LOCKAUDIT_RETURN_CAPABILITY(mu_) { return mu_; }
  void ResetAfterFork() noexcept { mu_.ResetAfterFork(); }

 private:
  uint32_t WindowOf(const Acquisition& a, uint32_t* window) const;
  void MarkSaturated(const EdgeRecord& r);
  bool TakeEdgeLine(NodeId from, NodeId to) LOCKAUDIT_REQUIRES(mu_);
  void FillCycleEdges(CycleFinding& c) LOCKAUDIT_REQUIRES(mu_);
  std::string OrderedReasonOf(const CycleFinding& c);
  void ForgetOrderedCycle(const std::vector<NodeId>& nodes) LOCKAUDIT_REQUIRES(mu_);
  void ReportAgain(NodeId from, NodeId to, const Acquisition& a, StackId stack,
                   StackId held_stack, LearnResult* out) LOCKAUDIT_REQUIRES(mu_);
  void FindCycles(const std::vector<std::pair<NodeId, NodeId>>& to_check, LearnResult* out)
      LOCKAUDIT_REQUIRES(mu_);

  LockOrderHost& host_;
  EngineMutex mu_;
  LockOrderGraph graph_ LOCKAUDIT_GUARDED_BY(mu_);
  EdgeTable edges_ LOCKAUDIT_GUARDED_BY(mu_);  // the evidence of every edge of graph_
  KnownEdges saturated_;                        // lock-free
  std::set<std::vector<NodeId>> reported_cycles_ LOCKAUDIT_GUARDED_BY(mu_);
  // Edges of the cycles reported as ordered, each to its cycles' nodes: when another thread
  // takes one of those edges, the cycle is reported again, not ordered.
  std::map<std::pair<NodeId, NodeId>, std::vector<std::vector<NodeId>>> ordered_cycles_
      LOCKAUDIT_GUARDED_BY(mu_);
  std::unordered_map<uint64_t, uint32_t> edge_lines_ LOCKAUDIT_GUARDED_BY(mu_);
  uint64_t edge_lines_dropped_ LOCKAUDIT_GUARDED_BY(mu_) = 0;
  uint64_t edges_learned_ LOCKAUDIT_GUARDED_BY(mu_) = 0;
  uint64_t edges_implied_ LOCKAUDIT_GUARDED_BY(mu_) = 0;
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_LOCK_ORDER_H_
