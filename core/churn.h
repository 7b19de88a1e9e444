// core/churn: lock churn, one thread releasing a lock and taking it again with no other lock in
// between, from a recurring pair of sites: `get()` then `update()` each locking the same map.
// Each such pair costs an extra lock and unlock (and, contended, an extra wait and hand-over);
// holding the lock across both does the same work with one acquisition.
//
// Detected on the acquisition: the thread remembers the held entry its last release popped
// (ThreadState::last_released); an acquisition that pushes onto that slot while it still names
// the same lock, from a site other than the released hold's, is a re-acquisition (hot_path.h,
// ReleasedHere: a site compare, then a slot compare). The fast path counts it for the lock and
// hands 1 in 64 to the slow path, which records the site pair with weight 64 (pair counts are
// estimates, close once they are in the thousands). A loop that takes one lock at one site is
// not churn here: it is the common shape of a worker loop, and nothing without a clock tells it
// from one operation. Two operations on one structure back to back with no other lock between
// them are churn by this rule (they could share one acquisition too).
// Counted per thread by (lock, the two sites in either order), merged into the engine's table, and
// reported at exit, once per lock: its most frequent site pair, when that pair was counted at
// least LOCKAUDIT_CHURN_MIN times and the lock's re-acquisitions make at least 10% of its
// acquisitions, with both sites' stacks, the count and its share (other pairs summed). A
// condition-variable wait's re-acquisition is not a site of its own here. Per lock, the count is the
// metric lockaudit_lock_churn_total.
//
// Thread-safety: Record and FlushThread run on the thread itself; Report at exit, after every
// other audited thread stopped recording (it reads their tables as the contention profile does).
#ifndef LOCKAUDIT_CORE_CHURN_H_
#define LOCKAUDIT_CORE_CHURN_H_

#include <cstdint>

#include "options.h"
#include "provider.h"
#include "thread_state.h"

namespace lockaudit::core::churn {

void Init(const Options& opts);
// The acquisition at `second` re-takes `lock` (id `id`), whose released hold was taken at
// `first`, standing for `weight` re-acquisitions (1 in ThreadState::kChurnSamplePeriod of the
// fast path's is sampled). The lock's own count (LockHist::churn) is the caller's. Inside the
// engine.
void Record(ThreadState& ts, NodeId id, Site first, Site second, uint32_t weight);
// The same, for a site pair already in the thread's table: counted, true (thread-local only, no
// engine call); false when Record must take a slot for it.
bool CountKnown(ThreadState& ts, NodeId id, uintptr_t first_pc, uintptr_t second_pc,
                uint32_t weight);
// The thread exits: its counts move to the engine's table.
void FlushThread(ThreadState& ts);
// At exit: lock_churn findings for the triples counted at least LOCKAUDIT_CHURN_MIN times.
// `acquisitions_of(id)` gives a lock's acquisitions (for the share).
void Report(uint64_t (*acquisitions_of)(NodeId id));
void ResetAfterFork();

}  // namespace lockaudit::core::churn

#endif  // LOCKAUDIT_CORE_CHURN_H_
