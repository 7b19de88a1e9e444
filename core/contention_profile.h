// core/contention_profile: where threads wait, by call path (the mutex profile of Go's pprof,
// `perf lock contention`). A contended acquisition (a lock call whose non-blocking try failed,
// so it is about to block anyway) is sampled 1 in LOCKAUDIT_PROFILE_RATE: the waiting thread's
// stack is captured before it blocks, and when the wait ends its count and wait time are added
// to the (lock, stack) entry. Written at exit as `contention` lines (docs/report.md); `lockaudit
// profile` turns them into a pprof profile or folded stacks, scaled back by the rate.
// The same wait is also added to the (lock, holder's site) entry: the acquisition site of the
// thread that held the lock when the wait began (as `perf lock contention --lock-owner` does), so
// that the code whose holds made others wait is ranked too (`contention_holder` lines). Only
// the site is known, not the holder's whole stack: no thread can unwind another. A holder is
// looked for among the threads' published held sets (racy reads, as the watchdog's); a wait
// whose holder is not found (it released the lock at that moment, or exited holding it) counts
// under site 0, so the holder totals equal the waiter totals.
//
// Thread-safety: Record and FlushThread are called by the thread itself (on the contended path
// and at its exit); each thread sums into its own tables (ThreadState::wait_sums, holder_sums), merged into 16
// shards under their own engine mutexes; WriteLines reads both. Cost: nothing on the uncontended path; on the contended path one
// thread-local counter, and for a sampled wait one unwind (before blocking) and one shard
// update, plus the holder lookup (HolderSite). Memory: at most kMaxEntries (lock, stack) entries,
// waiter and holder entries together; waits of paths past that are counted by Dropped() (not yet
// in the report).
#ifndef LOCKAUDIT_CORE_CONTENTION_PROFILE_H_
#define LOCKAUDIT_CORE_CONTENTION_PROFILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "options.h"
#include "registry.h"
#include "stacks.h"
#include "thread_state.h"

namespace lockaudit::core::profile {

inline constexpr uint32_t kMaxEntries = 4096;

void Init(const Options& opts);
// 1 in `rate` contended acquisitions is sampled (0: profiling off).
uint32_t Rate();
// The holder's site for a sampled wait of `self` on `lock` that is about to begin: the
// acquisition site of another thread that holds `lock` now, as a one-frame partial stack; 0 when
// none is found. Called before the wait. Cost: a try of the thread list's mutex (a waiter never
// queues on it: when another thread has it, the holder counts as not seen), a read of each
// thread's held set, and an intern of the site the first time this thread sees it.
StackId HolderSite(ThreadState& self, NodeId lock);
// The wait that ended after `waited_ns` on `lock` was sampled with the waiter's stack `stack` and
// the holder's site `holder` (0: unknown): added to the thread's own sums (no lock taken while
// the thread holds the lock it waited for, except when a slot held another pair, which then
// moves to the engine's table).
void Record(ThreadState& ts, NodeId lock, StackId stack, StackId holder, uint64_t waited_ns);
// The thread is exiting: its sums move to the engine's table.
void FlushThread(ThreadState& ts);
// The `contention` and `contention_holder` lines as of now (symbolized; longest total wait
// first), without changing the profile: for a live read (the exporter's /debug/pprof/mutex).
// Empty when profiling is off.
std::vector<std::string> Lines();
// Writes one `contention` line per (lock, waiter's stack) entry and one `contention_holder` line
// per (lock, holder's site) entry, longest total wait first, to the JSON report (at exit).
void WriteLines();
uint64_t Dropped();  // sampled waits not recorded: the table was full
void ResetAfterFork();

}  // namespace lockaudit::core::profile

#endif  // LOCKAUDIT_CORE_CONTENTION_PROFILE_H_
