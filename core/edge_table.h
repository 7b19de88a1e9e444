// EdgeTable: the evidence of every lock-order edge the engine has learned, one fixed-size
// record per edge (no allocation per edge), in one open-addressing table keyed by the pair of
// lock indices.
//
// Owns: the records (EdgeRecord) and their storage.
// Thread-safety: none of its own; the lock-order detector (lock_order.h) calls it only under
// its mutex, which also guards the LockOrderGraph the records describe.
// Invariants: a record's key is (IndexOf(from), IndexOf(to)); a key is at most once in the
// table; erased slots are tombstones until the next rehash.
// Memory: sizeof(EdgeRecord) (120 bytes) + 1 per slot; the table is rehashed when live and
// erased slots pass 5/8 of it, doubling while live edges would fill more than half, so a live
// edge costs 1.6-4 slots (194-484 bytes), however many gates it had or how many locks share
// an endpoint (a lock with a huge fan-out costs the same per edge).
// Gates are bounded: an edge keeps at most kMaxGates of them (see EdgeRecord::gates).
#ifndef LOCKAUDIT_CORE_EDGE_TABLE_H_
#define LOCKAUDIT_CORE_EDGE_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "lock_order_graph.h"
#include "registry.h"
#include "stacks.h"

namespace lockaudit::core {

struct EdgeRecord {
  static constexpr uint32_t kMaxGates = LockOrderGraph::kMaxGates;
  NodeId from = 0, to = 0;
  // The locks held exclusively around every observation of the edge, sorted by id: of each
  // observation, the first kMaxGates exclusive held locks in acquisition order (outermost
  // first, where a program's big locks are), intersected over observations.
  uint64_t gates[kMaxGates] = {};
  uint8_t ngates = 0;
  uint8_t from_modes = 0, to_modes = 0;  // as LockOrderGraph::EdgeProps
  bool multi_thread = false;             // observed by two threads or more
  bool posted = false;                   // its `edge` line was handed to the symbolizer thread
  uint32_t tid = 0;                      // first observation's thread
  char thread_name[16] = {};            // as the kernel keeps it (15 characters)
  StackId stack = 0, held_stack = 0;     // first observation's evidence
  uint32_t incarnation = 0;              // first observation's thread (core/lineage.h)

  LockOrderGraph::EdgeProps Props() const {
    return LockOrderGraph::EdgeProps{gates, ngates, from_modes, to_modes};
  }
};
static_assert(sizeof(EdgeRecord) <= 128, "an edge record stays within two cache lines");

class EdgeTable {
 public:
  EdgeTable() = default;
  ~EdgeTable();
  EdgeTable(const EdgeTable&) = delete;
  EdgeTable& operator=(const EdgeTable&) = delete;

  static uint64_t Key(NodeId from, NodeId to) {
    return (static_cast<uint64_t>(IndexOf(from)) << 32) | IndexOf(to);
  }
  // The record of from->to (the same generations), or null.
  EdgeRecord* Find(NodeId from, NodeId to);
  // The record of the edge between these two indices, whatever its generations (the graph's
  // view), or null.
  EdgeRecord* FindByIndex(uint32_t from, uint32_t to);
  // A new record for from->to, which must not be in the table; null when out of memory.
  EdgeRecord* Insert(NodeId from, NodeId to);
  void Erase(uint32_t from_index, uint32_t to_index);
  size_t size() const { return live_; }
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i < capacity_; ++i) {
      if (state_[i] == kLive) f(slots_[i]);
    }
  }

 private:
  enum : uint8_t { kEmpty = 0, kLive = 1, kErased = 2 };
  size_t Probe(uint64_t key) const;  // the slot of `key`, or capacity_ when absent
  bool Rehash(size_t capacity);
  EdgeRecord* slots_ = nullptr;
  uint8_t* state_ = nullptr;
  size_t capacity_ = 0;  // a power of two, or 0
  size_t live_ = 0, erased_ = 0;
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_EDGE_TABLE_H_
