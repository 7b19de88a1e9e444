// core/static_data: which addresses lie in a loaded module's static data (its writable PT_LOAD
// segments: .data and .bss, a large zero-initialised array included), so that a lock there gets
// its statistics keyed, and named, by its own address and data symbol (as the report names it)
// rather than by its first lock site, the key of heap locks (core/stats_shards.h).
//
// Owns: a table of at most kMaxRanges ranges, written by Refresh() under its own mutex and
// published with a sequence count; Contains() reads it without a lock.
// Thread-safety: Refresh() calls dl_iterate_phdr, which takes the loader's lock: call it only
// where this thread cannot hold that lock or a program lock the loader waits for (the engine's
// start in a constructor, after dlclose returns). Contains() is safe anywhere (the lock path).
// Modules loaded later by dlopen are not in the table until the next Refresh(): their static
// locks are keyed by site, as heap locks are.
#ifndef LOCKAUDIT_CORE_STATIC_DATA_H_
#define LOCKAUDIT_CORE_STATIC_DATA_H_

#include <cstddef>
#include <cstdint>

namespace lockaudit::core::static_data {

inline constexpr size_t kMaxRanges = 1024;

void Refresh();
bool Contains(uintptr_t addr);
size_t RangeCount();  // for tests
// Changes with every Refresh(): what was derived from the table (names of static addresses)
// may be stale once it differs.
uint64_t Generation();
// In a forked child: the mutex free again; a refresh the fork cut short leaves an empty table.
void ResetAfterFork();

}  // namespace lockaudit::core::static_data

#endif  // LOCKAUDIT_CORE_STATIC_DATA_H_
