// <lockaudit/audit.h>: query what the engine has learned, from programs and tests.
//
// Every function is thread-safe and may be called at any time; results are snapshots built
// outside the engine's locks (cost: symbolization of the stacks involved, milliseconds).
#ifndef LOCKAUDIT_AUDIT_H_
#define LOCKAUDIT_AUDIT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#define LOCKAUDIT_PUBLIC __attribute__((visibility("default")))

namespace lockaudit {

struct Frame {
  uintptr_t pc = 0;
  std::string function;  // demangled; empty when unknown
  std::string file;      // empty without debug info
  int line = 0;          // 0 without debug info
  std::string module;
};

struct LockInfo {
  uint64_t id = 0;  // stable while the lock lives; never reused for another lock
  std::string name;
  uintptr_t addr = 0;
  std::optional<int> level;
};

struct ThreadInfo {
  uint32_t tid = 0;
  std::string name;
};

struct EdgeEvidence {
  uint64_t from = 0, to = 0;  // LockInfo ids
  ThreadInfo thread;
  std::vector<Frame> stack;       // where `to` was acquired
  std::vector<Frame> held_stack;  // where `from` (held at the time) was acquired
};

struct Finding {
  std::string kind;  // docs/report.md: "lock_order_cycle", "double_lock", ...
  std::string message;
  bool single_thread = false;
  std::vector<LockInfo> locks;
  std::vector<EdgeEvidence> edges;
  std::vector<ThreadInfo> threads;
  std::vector<Frame> stack;
  std::string text;  // the text report, as printed
  std::string json;  // the JSON Lines object
};

struct LockGraph {
  std::vector<LockInfo> nodes;
  std::vector<std::pair<uint64_t, uint64_t>> edges;  // from id -> to id
};

struct HierarchyViolation {
  LockInfo from, to;  // `to` was acquired while `from` was held, but level(from) >= level(to)
};

struct LockStatistics {
  uint64_t acquisitions = 0, contentions = 0;
  uint64_t wait_ns = 0;  // total time blocked
  uint64_t hold_ns = 0;  // estimated from sampled holds
};

// Every finding so far (suppressed ones excluded), oldest first.
LOCKAUDIT_PUBLIC std::vector<Finding> findings();
// The lock_order_cycle findings.
LOCKAUDIT_PUBLIC std::vector<Finding> potential_deadlocks();
// Levels against the learned graph: every edge from a level to a lower-or-equal level, even if
// the acquisition that would violate it at run time never happened in that order.
LOCKAUDIT_PUBLIC std::vector<HierarchyViolation> verify_hierarchy();
LOCKAUDIT_PUBLIC LockGraph graph();
LOCKAUDIT_PUBLIC LockStatistics lock_statistics(const void* lock);
// Calls `fn` for each new unsuppressed finding, on the thread that found it. Returns a handle.
LOCKAUDIT_PUBLIC int on_finding(std::function<void(const Finding&)> fn);
LOCKAUDIT_PUBLIC void remove_finding_callback(int handle);

}  // namespace lockaudit

#endif  // LOCKAUDIT_AUDIT_H_
