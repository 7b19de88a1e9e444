// core/wake: what happens while threads wait (DESIGN.md §2): the watchdog that finds actual
// deadlocks (a cycle in the wait-for graph) and wait/hold stalls, non-blocking contexts,
// condition-variable wake latency, wake budgets and cond_mutex_mismatch.
//
// How a deadlock is seen: a thread about to block publishes "waiting for L since t" in its own
// ThreadState (BlockBegin; a seqlock-style wait_seq makes the snapshot consistent). The
// front-end then waits with a deadline (provider.h BlockCheckAt); if the deadline passes, the
// thread captures its own stack, publishes it (StillBlocked) and keeps waiting: the semantics of
// the lock call do not change and no signal is sent. An engine-owned watchdog thread scans the
// thread states a few times per LOCKAUDIT_STALL_MS, joins waiters to holders and reports a
// cycle of blocked threads once it has been stable for two scans and every member has waited
// longer than the threshold.
//
// Thread-safety: every function may be called from any audited thread; the watchdog owns its
// bookkeeping. Cost: nothing on the uncontended path; BlockBegin/End are a few thread-local
// stores on the contended path; a condition-variable signal is one clock read and one store.
#ifndef LOCKAUDIT_CORE_WAKE_H_
#define LOCKAUDIT_CORE_WAKE_H_

#include <cstdint>

#include "options.h"
#include "provider.h"
#include "registry.h"
#include "thread_state.h"

namespace lockaudit::core::wake {

void Init(const Options& opts);
void AllowBackground();  // from now on the watchdog may be started
// Starts the watchdog thread if it does not run in this process yet (cheap when it does).
void EnsureWatchdog();
// Threads in the actual deadlocks the watchdog's last scan found (0 when none or not running).
uint64_t DeadlockedThreads();
void ForkChild();  // the watchdog thread did not survive the fork: restart it lazily
void Stop();       // at exit: no more reports

// A thread name matches LOCKAUDIT_NONBLOCKING_THREADS.
bool NameIsNonblocking(const char* name);

// The contended path of a lock call (between the failed fast try and the real blocking call).
void BlockBegin(ThreadState& ts, NodeId id, const void* lock, uint32_t flags, Site site,
                uint64_t now_ns);
void BlockEnd(ThreadState& ts);
void StillBlocked(ThreadState& ts);
uint64_t FirstCheckDelayNs();  // how long a blocked thread waits before publishing its stack

// Condition variables.
void CondWaitBegin(ThreadState& ts, const void* cond, const void* mutex, Site site);
void CondWaitEnd(ThreadState& ts, const void* cond);
void CondSignal(const void* cond);
void CondDestroy(const void* cond);
void FlushThread(ThreadState& ts);
void FutexWait(ThreadState& ts, const void* addr, Site site);  // thread exit: its cond shards are retired

}  // namespace lockaudit::core::wake

#endif  // LOCKAUDIT_CORE_WAKE_H_
