// core/tracker_internal: what core/wake (the watchdog, condition variables, non-blocking
// contexts) and the statistics read side (stats_collect.cc) use from the tracker. Not for front-ends: they use provider.h.
//
// Thread-safety: as noted per function; none may run on the hot path.
#ifndef LOCKAUDIT_CORE_TRACKER_INTERNAL_H_
#define LOCKAUDIT_CORE_TRACKER_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "report.h"
#include "thread_state.h"

namespace lockaudit::core::internal {

uint64_t NowNs();                      // CLOCK_MONOTONIC
bool EngineReady();                    // initialised, not disabled
bool EngineFinished();                 // Finish() ran (process exiting)
ReportLock LockOfId(NodeId id);        // name, address, level (inside an EngineScope)
ReportThread ThreadOfState(const ThreadState& ts);
StackId CaptureStack(uintptr_t start_pc);  // the calling thread's stack
bool IsLiveLock(NodeId id);
uintptr_t LockFirstSite(NodeId id);  // the pc of its first lock site, 0 when unknown
// True the first time (kind, a, b) is seen: dedupes findings.
bool FirstReport(FindingKind kind, uint64_t a, uint64_t b);
// Calls fn for every audited thread state in use, holding the thread-list mutex: a state is
// neither recycled nor has its held buffers unmapped meanwhile. fn must not report or allocate
// through the engine; copy what it needs.
void VisitThreads(void (*fn)(ThreadState& ts, void* arg), void* arg);
// VisitThreads when the thread list's mutex is free now; false (nothing visited) when not.
bool TryVisitThreads(void (*fn)(ThreadState& ts, void* arg), void* arg);
// The head of the list of thread states, for lock-free readers of their counters: states are
// never freed and `next` never changes once published; a state not `in_use` is free (its
// counters were flushed when its thread exited). Reads of another thread's counters are racy.
ThreadState* ThreadList();
LockRegistry& Registry();
// Around a read of the thread states' id-cache entries and pending retired rows together
// (stats::Collect()), with stats::RetiredMutex() held: no thread is moving counts from one to the
// other meanwhile (tracker.cc, FlushCacheEntry). Begin may sleep while a thread is mid-move.
void BeginRetiredRead() noexcept;
void EndRetiredRead() noexcept;
size_t LiveEdges();  // edges in the lock-order graph now

}  // namespace lockaudit::core::internal

namespace lockaudit::core {
// "cond@<function> (<file>:<line>)" (or a symbol) for a condvar's stats key.
std::string CondNameForKey(uint64_t key);
// fork() child: the key-name cache's mutex is free again (stats_collect.cc).
void KeyNamesResetAfterFork();
}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_TRACKER_INTERNAL_H_
