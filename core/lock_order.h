// LockOrder: the lock-order detector. Learns "B acquired while A held" edges from acquisitions,
// keeps their evidence, and finds the potential deadlocks (cycles) a new or changed edge closes.
// It knows nothing of threads' states, lock names, stacks' contents or reports: what it needs of
// the engine comes through LockOrderHost (is a lock live, capture the evidence of an
// acquisition, ...), and what it finds comes back as data (LearnResult): the caller builds the
// messages and publishes them after the detector's mutex is released. Modelled on compiler-rt's
// split between its deadlock detector and the callback host, and on Abseil's deadlock graph
// (every method says which of the detector's locks it takes).
//
// Owns: the graph (LockOrderGraph, incremental topological order), the evidence of every edge
// (EdgeTable, in kShards shards by edge), the cycles already reported, the cycles reported as
// ordered (core/lineage.h), the edge-line budget per naming pair, and `saturated_`, a
// lock-free set of edges no observation can change, read before any lock is taken so that a
// context whose edges are all saturated costs none.
// Thread-safety: two modes (see the members below).
//  - Shared: any number of threads at once, each counted in its reader slot. Learn() runs here
//    while the graph has no back edge and no cycle is reported as ordered: an edge already
//    known is updated under its shard's mutex; a new edge is added when it agrees with the
//    graph's order (LockOrderGraph::TryInsertOrdered: no reorder, so no cycle can close). The
//    rest of the acquisition's window goes to the exclusive mode.
//  - Exclusive: mu_ held and the shared mode drained (ExclusiveLock): a new edge against the
//    order (reorder or cycle), cycle searches, Forget, the counts and every read of all edges.
// Every public method may be called from any thread and takes what it needs itself
// (LOCKAUDIT_EXCLUDES(mu_)). Host calls are made in either mode (IsLive, MarkInGraph, IdAt,
// NamingKey, OrderedReason: they must not call back into the detector) except CaptureEvidence,
// which is called in neither (unwinding may take the dynamic loader's lock, which a dlopen'ing
// thread holds while it waits for mu_ inside a static constructor).
// Cost: a known edge, or one seen saturated, costs a probe of `saturated_` (no lock); a new edge
// that agrees with the order a shard-mutex section and two per-node flags, other threads
// learning theirs meanwhile; one against it an exclusive section with an incremental reorder
// of the nodes between its ends (Pearce-Kelly); a cycle search runs only for a new or changed
// edge while the graph has a back edge (and then every Learn is exclusive).
// Memory per edge: one EdgeRecord and its index slots (edge_table.h: 155-184 bytes) plus its
// two adjacency entries (8 bytes) in the graph, whatever the fan-out of its locks; a node in
// the graph costs its chunk's share (lock_order_graph.h) and its adjacency vectors' first 4
// entries each.
#ifndef LOCKAUDIT_CORE_LOCK_ORDER_H_
#define LOCKAUDIT_CORE_LOCK_ORDER_H_

#include <cstddef>
#include <atomic>
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
  // Whether edge lines are written at all (a JSON report was asked for). When not, a new edge
  // takes no line budget (no NamingKey call, no probe of the line table) and is not `posted`:
  // LearnResult::new_edges and changed_edges stay empty, edge_lines_dropped 0.
  virtual bool WantsEdgeLines() = 0;
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

  explicit LockOrder(LockOrderHost& host) : host_(host) {
    for (Shard& sh : shards_) sh.edges.SetChunkSource(&chunk_source_);
  }
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
  // Maps the edge tables' first pages (EdgeTable::Reserve): done at load, where the program
  // holds nothing.
  void Reserve() LOCKAUDIT_EXCLUDES(mu_);
  // `id` is destroyed: its edges go (and their records).
  void Forget(NodeId id) LOCKAUDIT_EXCLUDES(mu_);
  // The record of from->to as it is now; false when there is none.
  bool CurrentEdge(NodeId from, NodeId to, EdgeRecord* out) LOCKAUDIT_EXCLUDES(mu_);
  // Calls f(record) for every edge, in the exclusive mode (f must not call the detector).
  template <typename F>
  void ForEachEdge(F&& f) LOCKAUDIT_EXCLUDES(mu_) {
    ExclusiveLock lock(*this);
    for (Shard& sh : shards_) sh.edges.ForEach(f);
  }
  struct Counts {
    uint64_t edges_learned = 0;       // ever, edges of destroyed locks included
    uint64_t edge_lines_dropped = 0;  // over the kEdgeLinesPerPair budget
    size_t live_edges = 0;
    uint64_t edges_implied = 0;  // learned when a lock in the middle of a nest was destroyed
    uint64_t exclusive_learns = 0;  // Learn() calls that took the exclusive mode
  };
  Counts GetCounts() LOCKAUDIT_EXCLUDES(mu_);

  // fork(): the prefork handler takes mu_ (with the engine's other mutexes), then calls
  // ForkPrepared(), which waits a bounded time for the threads in the shared mode to leave it
  // (and keeps new ones out): false when some did not (the handler releases and tries again);
  // the parent calls ForkParent() before releasing mu_, the child ResetAfterFork().
  EngineMutex& mutex() LOCKAUDIT_RETURN_CAPABILITY(mu_) { return mu_; }
  bool ForkPrepared();
  void ForkParent();
  void ResetAfterFork() noexcept;

 private:
  uint32_t WindowOf(const Acquisition& a, uint32_t* window) const;
  void MarkSaturated(const EdgeRecord& r);
  // Either mode; `dropped` counts a line over the budget (the edge's shard's count).
  bool TakeEdgeLine(NodeId from, NodeId to, uint64_t* dropped);
  void FillCycleEdges(CycleFinding& c) LOCKAUDIT_REQUIRES(mu_);
  std::string OrderedReasonOf(const CycleFinding& c);
  void ForgetOrderedCycle(const std::vector<NodeId>& nodes) LOCKAUDIT_REQUIRES(mu_);
  void ReportAgain(NodeId from, NodeId to, const Acquisition& a, StackId stack,
                   StackId held_stack, LearnResult* out) LOCKAUDIT_REQUIRES(mu_);
  void FindCycles(const std::vector<std::pair<NodeId, NodeId>>& to_check, LearnResult* out)
      LOCKAUDIT_REQUIRES(mu_);

  // The exclusive mode: mu_, with the shared mode drained (no thread in it) until released.
  void ExclusiveBegin() LOCKAUDIT_ACQUIRE(mu_);
  void ExclusiveEnd() LOCKAUDIT_RELEASE(mu_);
  class LOCKAUDIT_SCOPED_CAPABILITY ExclusiveLock {
   public:
    explicit ExclusiveLock(LockOrder& o) LOCKAUDIT_ACQUIRE(o.mu_) : o_(o) { o_.ExclusiveBegin(); }
    ~ExclusiveLock() LOCKAUDIT_RELEASE() { o_.ExclusiveEnd(); }
    ExclusiveLock(const ExclusiveLock&) = delete;
    ExclusiveLock& operator=(const ExclusiveLock&) = delete;

   private:
    LockOrder& o_;
  };
  // The shared mode's gate: true when entered (LeaveShared() after), false while an exclusive
  // holder has it drained (the caller takes the exclusive mode instead).
  bool EnterShared(uint32_t slot);
  void LeaveShared(uint32_t slot);
  void DrainShared();
  static constexpr uint32_t kReaderSlots = 8;
  struct alignas(64) ReaderSlot {
    std::atomic<uint32_t> count{0};  // threads of this slot in the shared mode (a futex word)
  };

  // The edge tables, by a hash of the edge's lock indices; each shard's mutex guards it in the
  // shared mode (the exclusive mode excludes every shared holder, so it takes none).
  static constexpr uint32_t kShards = 16;
  struct alignas(64) Shard {
    EngineMutex mu;
    EdgeTable edges;         // the evidence of the graph's edges that hash here
    uint64_t learned = 0;    // edges ever learned here (Counts::edges_learned)
    uint64_t dropped = 0;    // their lines over the budget (Counts::edge_lines_dropped)
  };
  Shard& ShardOf(uint32_t from_index, uint32_t to_index) {
    return shards_[Mix64(EdgeTable::Key(from_index, to_index)) >> 60];
  }
  EdgeTable& TableOf(NodeId from, NodeId to) { return ShardOf(IndexOf(from), IndexOf(to)).edges; }
  // Edge lines per naming pair (TakeEdgeLine): a lock-free table of pair keys and counts, and
  // for pairs past its probe window, maps striped by the pair's key.
  static constexpr uint32_t kLineSlots = 1u << 12, kLineProbe = 16;
  struct LineSlot {
    std::atomic<uint64_t> key{0};  // 0: free
    std::atomic<uint32_t> count{0};
  };
  static constexpr uint32_t kLineStripes = 16;
  struct alignas(64) LineStripe {
    EngineMutex mu;
    std::unordered_map<uint64_t, uint32_t> counts;
  };

  LockOrderHost& host_;
  // The detector's two modes. Exclusive (mu_ held, the shared mode drained): everything below.
  // Shared (EnterShared, any number of threads): Learn() of an edge that is known already or
  // agrees with the graph's order (LockOrderGraph::TryInsertOrdered), while the graph has no
  // back edge and no cycle is reported as ordered; its edge's shard mutex held for the record.
  EngineMutex mu_;
  ReaderSlot readers_[kReaderSlots];  // by thread id
  std::atomic<bool> writer_{false};   // an exclusive holder keeps the shared mode drained
  LockOrderGraph graph_;              // modes: lock_order_graph.h
  EdgeChunkSource chunk_source_;      // the shards' records (before them: destroyed after)
  Shard shards_[kShards];
  LineSlot line_slots_[kLineSlots];
  LineStripe lines_[kLineStripes];
  KnownEdges saturated_;                        // lock-free
  std::set<std::vector<NodeId>> reported_cycles_ LOCKAUDIT_GUARDED_BY(mu_);
  // Edges of the cycles reported as ordered, each to its cycles' nodes: when another thread
  // takes one of those edges, the cycle is reported again, not ordered.
  std::map<std::pair<NodeId, NodeId>, std::vector<std::vector<NodeId>>> ordered_cycles_
      LOCKAUDIT_GUARDED_BY(mu_);
  std::atomic<bool> ordered_any_{false};  // !ordered_cycles_.empty(), read in the shared mode
  uint64_t edges_implied_ LOCKAUDIT_GUARDED_BY(mu_) = 0;
  uint64_t exclusive_learns_ LOCKAUDIT_GUARDED_BY(mu_) = 0;
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_LOCK_ORDER_H_
