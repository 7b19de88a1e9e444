// core/false_sharing: two hot locks whose lock words share one 64-byte cache line and that
// different threads take (lock_false_sharing). Every lock and unlock writes the line, so each
// thread's operation on its own lock invalidates the other thread's copy: the two locks contend
// through the cache although neither is ever contended as a lock (an array of mutexes, two
// mutexes side by side in a struct).
//
// Computed off the hot path, from the statistics and addresses: when a thread exits, and for the
// threads still running at exit, the locks it took at least kHot times (its per-thread id-cache
// counts) are noted with their addresses; at exit, notes of two different live locks on one
// line by two different threads are reported once per pair, with both names, the line, the
// threads and counts, and the padding that separates them. What is not seen: a hot lock that
// shares its line with another thread's hot *data* (only lock addresses are known); a lock
// evicted from a thread's id cache before it exited (its count for that thread is then split).
//
// Thread-safety: NoteThread runs on the exiting thread (inside the engine), Report at exit.
#ifndef LOCKAUDIT_CORE_FALSE_SHARING_H_
#define LOCKAUDIT_CORE_FALSE_SHARING_H_

#include <cstdint>

#include "thread_state.h"

namespace lockaudit::core::false_sharing {

inline constexpr uint64_t kHot = 10000;     // acquisitions by one thread
inline constexpr uintptr_t kLine = 64;

void NoteThread(const ThreadState& ts);
void Report();
void ResetAfterFork();

}  // namespace lockaudit::core::false_sharing

#endif  // LOCKAUDIT_CORE_FALSE_SHARING_H_
