// oneTBB's mutexes under the shim, through the ITT notification API: the shim is the collector
// that oneTBB's built-in ittnotify loads when INTEL_LIBITTNOTIFY64 names it (`lockaudit run`
// sets it). oneTBB's mutexes (spin_mutex, queuing_mutex, spin_rw_mutex, mutex, rw_mutex, the
// speculative ones) spin or wait on futexes of their own, inline in the program's code, so no
// pthread call shows them; they announce themselves to ITT only when the program is compiled
// with TBB_USE_PROFILING_TOOLS=1 (docs/runtimes.md).
//
// The ITT sync protocol: sync_create(addr, objtype, ...) when a synchronisation object is built;
// sync_prepare(addr) before a blocking acquisition starts; sync_acquired(addr) once it is held
// (after a prepare: a blocking acquisition; without one: a successful try); sync_cancel(addr)
// when an attempt gives up; sync_releasing(addr) before the release; sync_destroy(addr).
// oneTBB also sends acquired/releasing pairs that are not locks (happens-before marks of its
// task scheduler and containers), so only objects created with a mutex objtype ("tbb::...mutex")
// are fed to the engine: a set of their addresses, filled by sync_create and emptied by
// sync_destroy, without allocation or locks.
//
// What is not seen: the mode of an rw mutex (ITT says "acquired" for a read lock and a write lock
// alike, so read locks count as exclusive: two readers in opposite order are reported as a
// cycle); a mutex constructed before oneTBB loaded its collector (a static one constructed
// before main starts is created before, if the program touches oneTBB only later); contention
// and wait times (ITT marks the intent to acquire, not whether the thread had to wait).
#include <stdint.h>
#include <string.h>

#include <atomic>

#include "hot_path.h"
#include "interpose.h"
#include "provider.h"

namespace lockaudit::preload {
namespace {

// Open addressing, linear probing; a removed address leaves a tombstone that a later insert
// reuses. 2^16 slots: far more live oneTBB mutexes than a program has; when full, an object is
// not audited (said once).
constexpr size_t kSlots = size_t{1} << 16;
constexpr uintptr_t kEmpty = 0, kTombstone = 1;
// Slot word: the address with the object's kind in its top bits (a user-space address has
// them clear, even with 5-level paging; a mutex address need not be aligned: spin_mutex is one
// atomic byte), or kEmpty / kTombstone.
constexpr uintptr_t kRecursiveBit = uintptr_t{1} << 63;  // tbb::recursive_mutex (TBB 2020)
constexpr uintptr_t kRwBit = uintptr_t{1} << 62;         // a reader-writer mutex
constexpr uintptr_t kKindBits = kRecursiveBit | kRwBit;
std::atomic<uintptr_t> g_slots[kSlots];
std::atomic<bool> g_full_said{false};

size_t SlotOf(uintptr_t a) { return ((a >> 3) * 0x9E3779B97F4A7C15ULL) >> (64 - 16); }

bool Holds(uintptr_t cur, uintptr_t a) { return cur > kTombstone && (cur & ~kKindBits) == a; }

// The slot word of address a, or kEmpty when a is not a live oneTBB mutex.
uintptr_t Find(uintptr_t a) {
  for (size_t i = SlotOf(a), n = 0; n < kSlots; ++n, i = (i + 1) & (kSlots - 1)) {
    const uintptr_t cur = g_slots[i].load(std::memory_order_acquire);
    if (Holds(cur, a)) return cur;
    if (cur == kEmpty) return kEmpty;
  }
  return kEmpty;
}

bool Contains(uintptr_t a) { return Find(a) != kEmpty; }

// Adds address a with its kind bits; an address already there (a mutex built where one was
// never destroyed) takes the new kind.
void Insert(uintptr_t a, uintptr_t kind) {
  const uintptr_t word = a | kind;
  for (size_t i = SlotOf(a), n = 0; n < kSlots; ++n, i = (i + 1) & (kSlots - 1)) {
    uintptr_t cur = g_slots[i].load(std::memory_order_acquire);
    if (Holds(cur, a)) {
      g_slots[i].compare_exchange_strong(cur, word, std::memory_order_acq_rel);
      return;
    }
    if (cur == kEmpty) break;
  }
  for (size_t i = SlotOf(a), n = 0; n < kSlots; ++n, i = (i + 1) & (kSlots - 1)) {
    uintptr_t cur = g_slots[i].load(std::memory_order_acquire);
    // A free slot is claimed; a lost race leaves in `cur` what won it, looked at as any other.
    if ((cur == kEmpty || cur == kTombstone) &&
        g_slots[i].compare_exchange_strong(cur, word, std::memory_order_acq_rel)) {
      return;
    }
    if (Holds(cur, a)) return;
  }
  if (!g_full_said.exchange(true)) {
    core::LogNote("lockaudit: note: over 65536 live oneTBB mutexes; later ones are not audited\n");
  }
}

void Remove(uintptr_t a) {
  for (size_t i = SlotOf(a), n = 0; n < kSlots; ++n, i = (i + 1) & (kSlots - 1)) {
    uintptr_t cur = g_slots[i].load(std::memory_order_acquire);
    if (cur == kEmpty) return;
    if (Holds(cur, a)) {
      g_slots[i].compare_exchange_strong(cur, kTombstone, std::memory_order_acq_rel);
      return;
    }
  }
}

core::LockClass ClassOf(uintptr_t word) {
  if (word & kRecursiveBit) return core::LockClass::kRecursiveMutex;
  return (word & kRwBit) ? core::LockClass::kRwLock : core::LockClass::kMutex;
}

uintptr_t KindOf(const char* objtype) {
  if (strstr(objtype, "recursive") != nullptr) return kRecursiveBit;
  return strstr(objtype, "rw_mutex") != nullptr ? kRwBit : 0;
}

// The address of the blocking acquisition this thread announced (sync_prepare) and has not
// finished: its sync_acquired is a blocking acquisition, not a try.
thread_local const void* t_prepared = nullptr;

bool IsMutexType(const char* objtype) {
  return objtype != nullptr && strncmp(objtype, "tbb::", 5) == 0 && strstr(objtype, "mutex") != nullptr;
}

}  // namespace
}  // namespace lockaudit::preload

namespace la = lockaudit::preload;

// ITT's sync API as the collector exports it (ittnotify.h, Linux: char strings). The static
// part inside oneTBB fills its pointers from these names when the collector says it speaks
// version 1 (it exports __itt_api_version) and INTEL_ITTNOTIFY_GROUPS names the "sync" group (the
// shim sets both variables when the user set neither, preload/shim.cc); a collector with no
// version is "legacy", and oneTBB does not ask a legacy one for sync calls.
// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE const char* __itt_api_version() { return "lockaudit ITT sync collector"; }

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __itt_sync_create(void* addr, const char* objtype, const char* objname,
                                           int attribute) {
  (void)attribute;
  if (addr == nullptr || !la::IsMutexType(objtype)) return;
  const uintptr_t kind = la::KindOf(objtype);
  la::Insert(reinterpret_cast<uintptr_t>(addr), kind);
  if (lockaudit::core::ThisThread() == nullptr) return;
  lockaudit::core::OnInit(addr);
  // objname is "" for an unnamed mutex: the engine names it from its address as usual.
  const char* name = objname != nullptr && objname[0] != '\0' ? objname : nullptr;
  lockaudit::core::OnCreate(addr, la::ClassOf(kind), name, lockaudit::core::kNoLevel);
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __itt_sync_rename(void* addr, const char* name) {
  if (addr != nullptr && name != nullptr && la::Contains(reinterpret_cast<uintptr_t>(addr))) {
    lockaudit::core::SetLockName(addr, name);
  }
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __itt_sync_destroy(void* addr) {
  if (addr == nullptr || !la::Contains(reinterpret_cast<uintptr_t>(addr))) return;
  la::Remove(reinterpret_cast<uintptr_t>(addr));
  auto* ts = lockaudit::core::ThisThread();
  if (ts == nullptr) return;
  const lockaudit::core::Site site = LOCKAUDIT_CALLER_SITE();
  lockaudit::core::OnDestroy(ts, addr, site, false);
  lockaudit::core::OnDestroy(ts, addr, site, true);
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __itt_sync_prepare(void* addr) {
  if (la::Contains(reinterpret_cast<uintptr_t>(addr))) la::t_prepared = addr;
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __itt_sync_cancel(void* addr) {
  if (la::t_prepared == addr) la::t_prepared = nullptr;
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __itt_sync_acquired(void* addr) {
  const uintptr_t word = la::Find(reinterpret_cast<uintptr_t>(addr));
  if (word == la::kEmpty) return;
  auto* ts = lockaudit::core::ThisThread();
  const bool blocking = la::t_prepared == addr;
  la::t_prepared = nullptr;
  if (ts == nullptr) return;
  const uint32_t flags = blocking ? lockaudit::core::kExclusive : lockaudit::core::kTry;
  const lockaudit::core::Site site = LOCKAUDIT_CALLER_SITE();
  if (!lockaudit::core::FastAcquire(*ts, addr, flags, site)) {
    lockaudit::core::OnAcquired(*ts, addr, la::ClassOf(word), flags, site);
  }
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __itt_sync_releasing(void* addr) {
  if (!la::Contains(reinterpret_cast<uintptr_t>(addr))) return;
  auto* ts = lockaudit::core::ThisThread();
  if (ts != nullptr && !lockaudit::core::FastRelease(*ts, addr, 0)) {
    lockaudit::core::OnReleased(*ts, addr, LOCKAUDIT_CALLER_SITE());
  }
}

