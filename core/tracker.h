// core/tracker: the engine behind core/provider: the lock registry, thread states and their
// held stacks, and the parts it feeds (core/lock_order, core/lock_names, core/misuse, core/wake,
// statistics). This header is the query side used by the public audit API and tests; events come
// in through provider.h.
//
// Thread-safety: every function is thread-safe. Queries take the lock-order detector's mutex
// briefly and build their results (names) after releasing it.
#ifndef LOCKAUDIT_CORE_TRACKER_H_
#define LOCKAUDIT_CORE_TRACKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "registry.h"
#include "report.h"

namespace lockaudit::core {

struct GraphSnapshot {
  std::vector<ReportLock> nodes;
  std::vector<std::pair<NodeId, NodeId>> edges;
};
GraphSnapshot SnapshotGraph();

struct LatentViolation {
  ReportLock from, to;  // from has a level >= to's level, yet to was acquired while from was held
};
std::vector<LatentViolation> VerifyHierarchy();

struct LockStats {
  // hold_ns: estimated for all holds from the sampled ones (mean sampled hold x acquisitions).
  uint64_t acquisitions = 0, contentions = 0, wait_ns = 0, hold_ns = 0, hold_samples = 0;
  uint64_t shared_acquisitions = 0, shared_contentions = 0;  // of them, read (shared) ones
};
// Per-thread shards summed at read time.
LockStats StatsFor(const void* lock);
LockStats StatsForId(NodeId id);

// Lock naming (DESIGN.md §2): explicit > static symbol > heap@<function> (<file>:<line>).
std::string LockName(NodeId id);
NodeId IdOf(const void* lock);  // 0 if not registered
bool IsHeldByCurrentThread(const void* lock);

// Loads a hierarchy file ("<name> <level>" lines, # comments); warns once per bad line.
size_t LoadHierarchy(const char* path);

// Edge lines handed to the symbolizer thread so far (the JSON report's `edge` objects; none
// without a JSON report). For tests.
uint64_t EdgeLinesPosted();

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_TRACKER_H_
