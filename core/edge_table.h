// EdgeTable: the evidence of every lock-order edge the engine has learned, one fixed-size
// record per edge (no allocation per edge).
//
// Owns: the records (EdgeRecord), stored densely in chunks that never move (a record's address
// is stable until it is erased), and an open-addressing index over them: per slot the edge's key
// (the pair of lock indices) and its record's number, packed in one 8-byte word (one cache miss
// per probe, not one for the key and one for the number). Probing reads only the index, and
// growing rehashes only the index: records are written once, in order, where they
// stay (a thread holding 2,000 locks once learned 32,000 edges; moving 120-byte records to random
// places of a new table at each doubling was a fifth of its time).
// Thread-safety: none of its own; the lock-order detector (lock_order.h) keeps 16 of them and
// calls each under its shard's mutex (shared mode) or in its exclusive mode.
// Invariants: a key is at most once in the index; an erased edge's record goes on a free list
// and is reused by the next insert; erased index slots are tombstones until the next rehash.
// Memory: sizeof(EdgeRecord) (136 bytes) per record, in chunks of kChunkRecords (the last chunk
// partly used), plus 8 bytes per index slot; the index is rehashed when live and erased slots
// pass 5/8 of it, doubling while live edges would fill more than half, so a live edge costs
// 1.6-4 index slots: 149-168 bytes in all, however many gates it had or how many locks share an
// endpoint (a lock with a huge fan-out costs the same per edge).
// Gates are bounded: an edge keeps at most kMaxGates of them (see EdgeRecord::gates). A table
// holds at most 2^20 records (the detector's 16 tables: 16M edges, about 2.7 GB; past that a new
// edge is not learned, as when memory runs out).
#ifndef LOCKAUDIT_CORE_EDGE_TABLE_H_
#define LOCKAUDIT_CORE_EDGE_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "engine_mutex.h"
#include "lock_order_graph.h"
#include "thread_annotations.h"
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
  bool multi_thread : 1 = false;         // observed by two threads or more
  bool posted : 1 = false;               // its `edge` line was handed to the symbolizer thread
  // Learned when a lock it was implied through was destroyed (LockOrder::Forget): `from` was
  // held while a lock since destroyed was taken, and that lock while `to` was taken.
  bool implied : 1 = false;
  uint32_t tid = 0;                      // first observation's thread
  char thread_name[16] = {};            // as the kernel keeps it (15 characters)
  StackId stack = 0, held_stack = 0;     // first observation's evidence
  uint32_t incarnation = 0;              // first observation's thread (core/lineage.h)
  // The locks held outside `from` at the first observation that had one, nearest first (the
  // exclusive ones taken by a blocking call, as LockOrder::WindowOf passes over the others):
  // from->to then implies outers[0]->to, and outers[1]->to through it; LockOrder::Forget
  // learns the first whose order into `from` is still known when `from` is destroyed. All of
  // one observation, so an implied edge never joins two nests. 0: none.
  static constexpr uint32_t kOuters = 2;
  NodeId outers[kOuters] = {};

  LockOrderGraph::EdgeProps Props() const {
    return LockOrderGraph::EdgeProps{gates, ngates, from_modes, to_modes};
  }
};
static_assert(sizeof(EdgeRecord) <= 136, "an edge record: see the memory figures above");

// Record chunks for several tables at once (the lock-order detector's shards): carved from
// slabs of kSlabChunks chunks, each slab mapped and populated in one call, so that tables
// growing side by side map memory as one table would (16 tables each mapping chunks of their
// own made the first 5,000 edges of a program cost a chunk per table). Thread-safe (its own
// mutex); owns the slabs, unmapped when it is destroyed (after the tables it served).
class EdgeChunkSource {
 public:
  EdgeChunkSource() = default;
  ~EdgeChunkSource();
  EdgeChunkSource(const EdgeChunkSource&) = delete;
  EdgeChunkSource& operator=(const EdgeChunkSource&) = delete;
  // One zeroed chunk of EdgeTable::kChunkRecords records, or null when out of memory.
  EdgeRecord* Take();
  static constexpr size_t kSlabChunks = 16;

 private:
  EngineMutex mu_;
  char* slab_ LOCKAUDIT_GUARDED_BY(mu_) = nullptr;
  size_t used_ LOCKAUDIT_GUARDED_BY(mu_) = kSlabChunks;  // chunks of slab_ handed out
  char** slabs_ LOCKAUDIT_GUARDED_BY(mu_) = nullptr;     // every slab, for the destructor
  size_t nslabs_ LOCKAUDIT_GUARDED_BY(mu_) = 0;
};

class EdgeTable {
 public:
  EdgeTable() = default;
  // Chunks from `source` from now on (before the first record), instead of a mapping each.
  void SetChunkSource(EdgeChunkSource* source) { source_ = source; }
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
  // Find(), FindByIndex() and Insert() in one probe: the record of from->to, with *how saying
  // whether it was there (kFound), is one of earlier locks at these indices (kStale: the caller
  // starts it again), or was inserted now (kInserted, a fresh record); null when out of memory.
  enum class Emplaced { kFound, kStale, kInserted };
  EdgeRecord* Emplace(NodeId from, NodeId to, Emplaced* how);
  // Emplace() in two steps, for a caller that decides in between whether to insert: Locate()
  // probes once; when the edge is absent (record null), InsertAt() inserts it where the probe
  // ended, provided nothing changed the table in between.
  struct Place {
    EdgeRecord* record = nullptr;  // the edge's, or one of earlier locks (stale), or null
    bool stale = false;
    size_t slot = 0, tombstone = 0;
  };
  Place Locate(NodeId from, NodeId to);
  EdgeRecord* InsertAt(const Place& place, NodeId from, NodeId to);
  void Erase(uint32_t from_index, uint32_t to_index);
  // Maps the index and the first chunk of records now (at load: the first edge would otherwise
  // pay their page faults while the program holds a lock). False when out of memory.
  bool Reserve();
  size_t size() const { return live_; }
  template <typename F>
  void ForEach(F&& f) const {
    for (uint32_t i = 0; i < records_; ++i) {
      const EdgeRecord& r = Record(i);
      if (r.from != 0) f(r);  // (a live lock's id is never 0: its generation is odd)
    }
  }

  // Records per chunk (about 8.5 KB: the lock-order detector keeps 16 tables, whose chunks come
  // from one EdgeChunkSource), and the most records the table holds.
  static constexpr uint32_t kChunkRecords = 64;
  static constexpr uint32_t kMaxChunks = 1u << 14;  // 2^20 records: a slot holds the number

 private:
  // Index slots: (from index << 42 | to index << 20 | record number), never of a self edge, so
  // these two are free (0: the pair 0 -> 0; all ones: the pair 2^22-1 -> 2^22-1).
  static constexpr uint64_t kEmpty = 0;
  static constexpr uint64_t kErased = ~uint64_t{0};
  static constexpr uint32_t kNoRecord = ~uint32_t{0};
  static constexpr size_t kInitialCapacity = 1024;  // index slots
  size_t Probe(uint64_t key) const;  // the index slot of `key`, or capacity_ when absent
  bool Rehash(size_t capacity);
  EdgeRecord& Record(uint32_t n) const { return chunks_[n / kChunkRecords][n % kChunkRecords]; }
  uint32_t NewRecord();  // a record number (reused or appended), or kNoRecord when out of memory

  uint64_t* slots_ = nullptr;   // index: capacity_ slots, each (key << 20 | record number)
  size_t capacity_ = 0;         // a power of two, or 0
  size_t live_ = 0, erased_ = 0;
  EdgeRecord** chunks_ = nullptr;  // kMaxChunks pointers (page-backed, touched as used)
  uint32_t records_ = 0;           // records ever appended (live or on the free list)
  uint32_t free_ = kNoRecord;      // free list of erased records, linked through EdgeRecord::tid
  EdgeChunkSource* source_ = nullptr;  // null: each chunk its own mapping
};

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_EDGE_TABLE_H_
