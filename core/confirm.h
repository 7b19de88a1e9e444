// core/confirm: the schedule perturbation of `lockaudit confirm` (docs/confirm.md). Given a plan
// (LOCKAUDIT_CONFIRM: the sites of one lock-order cycle's edges, as module + ELF address), a
// thread about to take an edge's second lock at that edge's site, while it holds a lock it took
// at the edge's first site, pauses: until the paused threads hold and want locks that close a
// cycle (they are then all released at once into their lock calls, and the watchdog sees the
// actual deadlock), or until its pause times out. Only timing changes: the lock call that follows
// is the program's own, unchanged.
//
// Bounds: a pause lasts at most the plan's pause_ms; after max_timeouts pauses of one edge ended
// without a cycle, that edge no longer pauses in this process; a process with one thread never
// pauses (nothing can deadlock with it). Odd runs pause at every eligible acquisition, even runs
// at a seeded random half, so that successive runs line the threads up at other occurrences.
//
// Thread-safety: ConfirmBeforeLock may be called from any audited thread; the pause table is
// guarded by one engine mutex. Cost: nothing unless LOCKAUDIT_CONFIRM is set (the shim tests
// g_confirm_on on its blocking lock paths, and with a plan the inline mutex path is off, so
// every pthread_mutex_lock comes through the out-of-line path that tests it).
#ifndef LOCKAUDIT_CORE_CONFIRM_H_
#define LOCKAUDIT_CORE_CONFIRM_H_

#include "options.h"
#include "provider.h"

namespace lockaudit::core {

// True once a confirm plan was loaded (set at initialisation, before any program thread).
extern bool g_confirm_on;

// Before a blocking acquisition of `lock` called from `site` (the shim, with g_confirm_on).
void ConfirmBeforeLock(const void* lock, Site site) noexcept;

namespace confirm {
// Loads the plan named by LOCKAUDIT_CONFIRM (a bad file: one line on stderr, no perturbation).
void Init(const Options& opts);
// In a forked child: the parent's paused threads are gone (and the table's mutex is reset).
void ForkChild();
}  // namespace confirm

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_CONFIRM_H_
