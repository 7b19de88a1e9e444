// core/contention_profile: where threads wait, by call path (the mutex profile of Go's pprof,
// `perf lock contention`). A contended acquisition (a lock call whose non-blocking try failed,
// so it is about to block anyway) is sampled 1 in LOCKAUDIT_PROFILE_RATE: the waiting thread's
// stack is captured before it blocks, and when the wait ends its count and wait time are added
// to the (lock, stack) entry. Written at exit as `contention` lines (docs/report.md); `lockaudit
// profile` turns them into a pprof profile or folded stacks, scaled back by the rate.
//
// Thread-safety: Sample/Record may be called from any audited thread (on the contended path
// only); entries live in 16 shards, each under its own engine mutex, taken once per sampled
// wait after it ended. Cost: nothing on the uncontended path; on the contended path one
// thread-local counter, and for a sampled wait one unwind (before blocking) and one shard
// update. Memory: at most kMaxEntries (lock, stack) entries; waits of paths past that are
// counted in the summary's `profile_dropped`.
#ifndef LOCKAUDIT_CORE_CONTENTION_PROFILE_H_
#define LOCKAUDIT_CORE_CONTENTION_PROFILE_H_

#include <cstdint>

#include "options.h"
#include "registry.h"
#include "stacks.h"

namespace lockaudit::core::profile {

inline constexpr uint32_t kMaxEntries = 4096;

void Init(const Options& opts);
// 1 in `rate` contended acquisitions is sampled (0: profiling off).
uint32_t Rate();
// The wait that ended after `waited_ns` on `lock` was sampled with the waiter's stack `stack`.
void Record(NodeId lock, StackId stack, uint64_t waited_ns);
// Writes one `contention` line per entry, longest total wait first, to the JSON report (at exit).
void WriteLines();
uint64_t Dropped();  // sampled waits not recorded: the table was full
void ResetAfterFork();

}  // namespace lockaudit::core::profile

#endif  // LOCKAUDIT_CORE_CONTENTION_PROFILE_H_
