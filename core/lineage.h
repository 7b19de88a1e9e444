// core/lineage: which thread created and which thread joined each audited thread, on one logical
// clock, so that a lock-order cycle whose edges can never run at the same time (one edge's
// thread was joined before the thread that joined it created the other edge's thread) is marked
// "ordered" (docs/report.md).
//
// The clock ticks only at pthread_create and at a successful join, so two readings by one
// thread compare in that thread's program order: "joined, then created" is a happens-before
// relation through join and creation, never a guess from wall time. Lock releases are not
// counted as ordering (they order nothing a different schedule could not change). Only the
// direct creator/joiner relation is followed, not chains of them. Edges taken by the creating
// or joining thread itself are not judged ordered (see OrderedReason).
//
// Thread-safety: every function may be called from any audited thread; the tables are guarded
// by one engine mutex (taken at thread creation and join only, never on a lock path).
// Memory: two fixed tables (65,536 threads by incarnation, 16,384 unjoined pthread ids): an
// older thread overwritten by a newer one is simply no longer known, which only makes fewer
// cycles "ordered".
#ifndef LOCKAUDIT_CORE_LINEAGE_H_
#define LOCKAUDIT_CORE_LINEAGE_H_

#include <cstdint>
#include <string>

namespace lockaudit::core::lineage {

// What a new thread learns from the thread creating it (passed through the start routine).
struct Birth {
  uint32_t creator = 0;  // the creator's incarnation (0: unknown)
  uint32_t creator_tid = 0;
  uint32_t clock = 0;    // the clock after this creation's tick
};

// In the creating thread, before the real pthread_create: ticks the clock.
Birth OnCreate(uint32_t creator_incarnation, uint32_t creator_tid) noexcept;
// In the new thread, before its start routine.
void OnStart(uint32_t incarnation, uint32_t tid, Birth birth) noexcept;
// In the creating thread, once the create succeeded and `pthread_id` is known (before anyone
// can join it).
void OnCreated(uintptr_t pthread_id, Birth birth) noexcept;
// The unjoined thread `pthread_id` names (its creation clock; 0: unknown). Asked before the
// join: once joined, its pthread_t may name a new thread.
uint32_t Unjoined(uintptr_t pthread_id) noexcept;
// In the joining thread, after the join of thread `joined` (from Unjoined) succeeded: ticks
// the clock.
void OnJoined(uint32_t joiner_incarnation, uint32_t joiner_tid, uint32_t joined,
              uintptr_t pthread_id) noexcept;

// Why no schedule lets the two edges' threads overlap (a sentence for the report, naming them
// `x_name` and `y_name`), or "" when creation and join do not order them. Only the whole lives
// of two threads count: one was joined by the thread that afterwards created the other. (An
// edge taken by a thread before it created the other would also be ordered, but only if that
// thread never took it again while the other ran, and the engine does not see a thread's
// repeats of an edge it knows.) Inside the engine
// (allocates).
// `x` and `y`: the incarnations of the threads that took the two edges.
std::string OrderedReason(uint32_t x, const std::string& x_name, uint32_t y,
                          const std::string& y_name);

void ResetAfterFork() noexcept;  // the child: the parent's threads are gone, their lineage too

}  // namespace lockaudit::core::lineage

#endif  // LOCKAUDIT_CORE_LINEAGE_H_
