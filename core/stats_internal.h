// core/stats_internal: what Collect() (tracker.cc) reads from core/stats.cc's tables.
#ifndef LOCKAUDIT_CORE_STATS_INTERNAL_H_
#define LOCKAUDIT_CORE_STATS_INTERNAL_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "stats_shards.h"

namespace lockaudit::core::stats {

enum class KeyKind { kName, kSite, kStackSite, kAddress };
KeyKind KindOfKey(uint64_t key, uintptr_t* value);
// Caller holds RetiredMutex().
void ReadRetiredLocked(std::vector<std::pair<uint64_t, LockShard>>* locks,
                       std::vector<std::pair<uint64_t, CondShardData>>* conds);
// Stall counts, GPU histograms and dispatch counts.
void FillGlobal(Snapshot* s);

}  // namespace lockaudit::core::stats

#endif  // LOCKAUDIT_CORE_STATS_INTERNAL_H_
