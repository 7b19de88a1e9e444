// FindingKind: the kinds of finding (DESIGN contract: the JSON Lines "kind" field) and their
// names. A header of its own so that the config-file parsers (and their fuzz targets) know the
// kinds without the report machinery.
#ifndef LOCKAUDIT_CORE_FINDING_KIND_H_
#define LOCKAUDIT_CORE_FINDING_KIND_H_

#include <cstddef>
#include <cstdint>

namespace lockaudit::core {

enum class FindingKind : uint8_t {
  kLockOrderCycle,
  kHierarchyViolation,
  kDeadlock,
  kDoubleLock,
  kUnlockNotHeld,
  kDestroyHeld,
  kThreadExitHolding,
  kCondMutexMismatch,
  kWaitStall,
  kHoldStall,
  kBlockingInNonblocking,
  kGpuSyncUnderLock,
  kWakeBudget,
  kMisalignedLock,
  kBlockingUnderLock,
  kLockChurn,
  kRwlockAsMutex,
  kLockFalseSharing,
  kSendOnClosed,
  kChannelStall,
  kChannelLeak,
  kCount,
};

inline constexpr const char* kKindNames[] = {
    "lock_order_cycle", "hierarchy_violation", "deadlock",         "double_lock",
    "unlock_not_held",  "destroy_held",        "thread_exit_holding", "cond_mutex_mismatch",
    "wait_stall",       "hold_stall",          "blocking_in_nonblocking", "gpu_sync_under_lock",
    "wake_budget",      "misaligned_lock",     "blocking_under_lock",     "lock_churn",
    "rwlock_as_mutex",  "lock_false_sharing",  "send_on_closed",          "channel_stall",
    "channel_leak",
};
static_assert(sizeof kKindNames / sizeof kKindNames[0] == static_cast<size_t>(FindingKind::kCount));

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_FINDING_KIND_H_
