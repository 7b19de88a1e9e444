// core/misuse: the findings about one lock used wrongly, judged where it happens: double_lock,
// unlock_not_held, destroy_held, thread_exit_holding (their messages come from the tracker,
// which sees the event), hierarchy_violation, misaligned_lock and rwlock_as_mutex.
//
// Owns: nothing; dedupe is the engine's (internal::FirstReport), names its lock naming.
// Thread-safety: called on the thread that misused the lock (or, for rwlock_as_mutex, the one
// destroying it or exiting), off the fast path; each builds its finding inside the engine
// (EngineScope: the program's allocator is never used, errno is kept) and publishes it.
#ifndef LOCKAUDIT_CORE_MISUSE_H_
#define LOCKAUDIT_CORE_MISUSE_H_

#include <cstdint>
#include <string>

#include "finding_kind.h"
#include "provider.h"
#include "registry.h"
#include "thread_state.h"

namespace lockaudit::core::misuse {

// A finding of `kind` on lock `id` by `ts` at `site`, with the stack from there; "%L" in
// `message` becomes the lock's quoted name. `dedupe`: once per (kind, lock).
LOCKAUDIT_COLD void Report(ThreadState& ts, FindingKind kind, NodeId id, Site site,
                           const std::string& message, bool dedupe = true);
// A literal message: its string is made inside the engine, never on the program's allocator
// (which the interrupted code may hold locked: a signal handler's lock).
LOCKAUDIT_COLD void Report(ThreadState& ts, FindingKind kind, NodeId id, Site site,
                           const char* message, bool dedupe = true);

// hierarchy_violation: `ts` acquires `id` while holding a lock of the same or a higher level;
// one finding per (held, acquired) pair, with both stacks.
LOCKAUDIT_COLD void CheckHierarchy(ThreadState& ts, NodeId id, Site site);

// misaligned_lock, checked once when a lock is first seen: the lock word (the int at the start
// of a pthread mutex, rwlock or spinlock) not 4-byte aligned, or across a 64-byte cache line (a
// packed struct): atomic operations on it are split locks, very slow on x86, and SIGBUS where
// the kernel's split-lock detection is fatal. Locks annotated through lockaudit_acquire() are
// the program's own objects of unknown layout: not checked.
LOCKAUDIT_COLD void CheckAlignment(ThreadState& ts, NodeId id, const void* lock, LockClass cls,
                                   uintptr_t site_pc);

// rwlock_as_mutex: a reader-writer lock whose acquisitions are at least 90% exclusive (of at
// least 100) and that was contended (at least 10 times and 0.1% of its acquisitions): readers
// rarely share it, so it costs what a mutex costs and more (a rwlock's bookkeeping, writer
// starvation policies) without the concurrency it is for. Judged when it is destroyed
// (CheckRwlockUse) and, for the live ones, at exit (CheckLiveRwlocks); once per lock.
void CheckRwlockUse(NodeId id);
void CheckLiveRwlocks();

}  // namespace lockaudit::core::misuse

#endif  // LOCKAUDIT_CORE_MISUSE_H_
