// OpenMP locks under the shim: the lock routines of the OpenMP API (omp_set_lock and the rest,
// exported alike by GCC's libgomp and LLVM's libomp) and the entry points that `#pragma omp
// critical` compiles to (libgomp: GOMP_critical_[name_]start/end; libomp: __kmpc_critical[_with_
// hint] and __kmpc_end_critical). They do not go through pthread, so without these interposers
// OpenMP locking is invisible. Like every interposer, each returns what the real function
// returned and decides nothing.
//
// What is seen: acquisitions (lock order, hierarchy, double_lock, unlock_not_held, contention
// and wait time of the omp_*_lock routines), releases, init and destroy. What is not: a
// `critical` section has no non-blocking try, so its waits are not timed or counted as
// contentions and a thread blocked in one is not part of the wait-for graph (an actual deadlock
// through a critical section is found only as the lock_order_cycle that precedes it).
//
// The real functions are looked up on first use (libgomp or libomp is loaded by then: the
// program calls into it), one relaxed load per call afterwards.
#include <dlfcn.h>
#include <stdint.h>

#include <atomic>

#include "hot_path.h"
#include "interpose.h"
#include "provider.h"
#include "raw_log.h"


namespace lockaudit::preload {
namespace {

using core::LockClass;
using core::Site;
using core::ThreadState;

// The next definition of `name`, resolved once. Null only when no OpenMP runtime defines it
// (cannot happen for a call that reached us through the program's own reference).
template <class Fn>
Fn Next(std::atomic<void*>& slot, const char* name) {
  void* p = slot.load(std::memory_order_acquire);
  if (LOCKAUDIT_PREDICT_TRUE(p != nullptr)) return reinterpret_cast<Fn>(p);
  p = dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    core::RawLog("lockaudit: error: cannot resolve the real %s (no OpenMP runtime loaded)\n", name);
    return nullptr;
  }
  slot.store(p, std::memory_order_release);
  return reinterpret_cast<Fn>(p);
}

#define LOCKAUDIT_NEXT(type, name)          \
  static std::atomic<void*> slot_##name{}; \
  const auto real_##name = Next<type>(slot_##name, #name)

using LockFn = void (*)(void*);
using TestFn = int (*)(void*);
// libomp's critical entries: (ident_t* loc, kmp_int32 gtid, kmp_critical_name* crit[, hint]).
using KmpcCriticalFn = void (*)(void*, int32_t, void*);
using KmpcCriticalHintFn = void (*)(void*, int32_t, void*, uintptr_t);

// The named-critical lock's key is the address of the compiler-emitted pointer for that name
// (libgomp: .gomp_critical_user_<name>; libomp: .gomp_critical_user_<name>.var), a data symbol
// that names the lock in reports. The unnamed one is one lock for the whole program.
char g_unnamed_critical;

// A blocking OpenMP acquisition: a try first (`test`, true when acquired), then the pre-block
// checks and the real blocking call.
template <class TestLock, class SetLock>
void Acquire(ThreadState* ts, const void* lock, LockClass cls, Site site, TestLock test,
             SetLock set) {
  if (ts == nullptr) return set();
  if (test()) {
    if (!core::FastAcquire(*ts, lock, core::kExclusive, site)) {
      core::OnAcquired(*ts, lock, cls, core::kExclusive, site);
    }
    return;
  }
  const uint64_t token = core::BeforeBlock(*ts, lock, cls, core::kExclusive, site);
  set();  // (no timed variant: the wait is not watched with a deadline)
  core::AfterBlock(*ts, lock, cls, core::kExclusive, site, token, true);
}

void Release(ThreadState* ts, const void* lock, Site site) {
  if (ts != nullptr && !core::FastRelease(*ts, lock, 0)) core::OnReleased(*ts, lock, site);
}

// An acquisition that cannot be tried (a critical section): recorded once it is held.
void Entered(ThreadState* ts, const void* lock, Site site) {
  if (ts == nullptr) return;
  if (!core::FastAcquire(*ts, lock, core::kExclusive, site)) {
    core::OnAcquired(*ts, lock, LockClass::kMutex, core::kExclusive, site);
  }
}

}  // namespace
}  // namespace lockaudit::preload

using lockaudit::core::LockClass;
using lockaudit::core::ThisThread;
using lockaudit::preload::Acquire;
using lockaudit::preload::Entered;
using lockaudit::preload::g_unnamed_critical;
using lockaudit::preload::KmpcCriticalFn;
using lockaudit::preload::KmpcCriticalHintFn;
using lockaudit::preload::LockFn;
using lockaudit::preload::Next;
using lockaudit::preload::Release;
using lockaudit::preload::TestFn;

// ---- The OpenMP lock API (omp_lock_t, omp_nest_lock_t: opaque, keyed by address) -----------

LOCKAUDIT_INTERPOSE void omp_init_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_init_lock);
  if (real_omp_init_lock == nullptr) return;
  real_omp_init_lock(l);
  if (ThisThread() != nullptr) lockaudit::core::OnInit(l);
}

LOCKAUDIT_INTERPOSE void omp_init_nest_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_init_nest_lock);
  if (real_omp_init_nest_lock == nullptr) return;
  real_omp_init_nest_lock(l);
  if (ThisThread() != nullptr) {
    lockaudit::core::OnInit(l);
    lockaudit::core::OnCreate(l, LockClass::kRecursiveMutex, nullptr, lockaudit::core::kNoLevel);
  }
}

namespace {
void DestroyWith(void* l, void (*destroy)(void*), lockaudit::core::Site site) {
  auto* ts = ThisThread();
  if (ts != nullptr) lockaudit::core::OnDestroy(ts, l, site, false);
  destroy(l);
  if (ts != nullptr) lockaudit::core::OnDestroy(ts, l, site, true);  // cannot fail
}
}  // namespace

LOCKAUDIT_INTERPOSE void omp_destroy_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_destroy_lock);
  if (real_omp_destroy_lock != nullptr) DestroyWith(l, real_omp_destroy_lock, LOCKAUDIT_CALLER_SITE());
}

LOCKAUDIT_INTERPOSE void omp_destroy_nest_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_destroy_nest_lock);
  if (real_omp_destroy_nest_lock != nullptr) {
    DestroyWith(l, real_omp_destroy_nest_lock, LOCKAUDIT_CALLER_SITE());
  }
}

LOCKAUDIT_INTERPOSE void omp_set_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_set_lock);
  LOCKAUDIT_NEXT(TestFn, omp_test_lock);
  if (real_omp_set_lock == nullptr) return;
  if (real_omp_test_lock == nullptr) return real_omp_set_lock(l);
  Acquire(
      ThisThread(), l, LockClass::kMutex, LOCKAUDIT_CALLER_SITE(),
      [&] { return real_omp_test_lock(l) != 0; }, [&] { real_omp_set_lock(l); });
}

LOCKAUDIT_INTERPOSE void omp_set_nest_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_set_nest_lock);
  LOCKAUDIT_NEXT(TestFn, omp_test_nest_lock);
  if (real_omp_set_nest_lock == nullptr) return;
  if (real_omp_test_nest_lock == nullptr) return real_omp_set_nest_lock(l);
  Acquire(
      ThisThread(), l, LockClass::kRecursiveMutex, LOCKAUDIT_CALLER_SITE(),
      [&] { return real_omp_test_nest_lock(l) != 0; }, [&] { real_omp_set_nest_lock(l); });
}

LOCKAUDIT_INTERPOSE int omp_test_lock(void* l) {
  LOCKAUDIT_NEXT(TestFn, omp_test_lock);
  if (real_omp_test_lock == nullptr) return 0;
  const int rc = real_omp_test_lock(l);
  auto* ts = ThisThread();
  if (rc != 0 && ts != nullptr) {
    lockaudit::core::OnAcquired(*ts, l, LockClass::kMutex, lockaudit::core::kTry,
                                LOCKAUDIT_CALLER_SITE());
  }
  return rc;
}

LOCKAUDIT_INTERPOSE int omp_test_nest_lock(void* l) {
  LOCKAUDIT_NEXT(TestFn, omp_test_nest_lock);
  if (real_omp_test_nest_lock == nullptr) return 0;
  const int rc = real_omp_test_nest_lock(l);  // the new nesting count, 0 when not acquired
  auto* ts = ThisThread();
  if (rc != 0 && ts != nullptr) {
    lockaudit::core::OnAcquired(*ts, l, LockClass::kRecursiveMutex, lockaudit::core::kTry,
                                LOCKAUDIT_CALLER_SITE());
  }
  return rc;
}

LOCKAUDIT_INTERPOSE void omp_unset_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_unset_lock);
  if (real_omp_unset_lock == nullptr) return;
  Release(ThisThread(), l, LOCKAUDIT_CALLER_SITE());
  real_omp_unset_lock(l);
}

LOCKAUDIT_INTERPOSE void omp_unset_nest_lock(void* l) {
  LOCKAUDIT_NEXT(LockFn, omp_unset_nest_lock);
  if (real_omp_unset_nest_lock == nullptr) return;
  Release(ThisThread(), l, LOCKAUDIT_CALLER_SITE());
  real_omp_unset_nest_lock(l);
}

// ---- `#pragma omp critical`, GCC's libgomp ------------------------------------------------

LOCKAUDIT_INTERPOSE void GOMP_critical_start() {
  using Fn = void (*)();
  LOCKAUDIT_NEXT(Fn, GOMP_critical_start);
  if (real_GOMP_critical_start == nullptr) return;
  real_GOMP_critical_start();
  Entered(ThisThread(), &g_unnamed_critical, LOCKAUDIT_CALLER_SITE());
}

LOCKAUDIT_INTERPOSE void GOMP_critical_end() {
  using Fn = void (*)();
  LOCKAUDIT_NEXT(Fn, GOMP_critical_end);
  if (real_GOMP_critical_end == nullptr) return;
  Release(ThisThread(), &g_unnamed_critical, LOCKAUDIT_CALLER_SITE());
  real_GOMP_critical_end();
}

LOCKAUDIT_INTERPOSE void GOMP_critical_name_start(void** pptr) {
  using Fn = void (*)(void**);
  LOCKAUDIT_NEXT(Fn, GOMP_critical_name_start);
  if (real_GOMP_critical_name_start == nullptr) return;
  real_GOMP_critical_name_start(pptr);
  Entered(ThisThread(), pptr, LOCKAUDIT_CALLER_SITE());
}

LOCKAUDIT_INTERPOSE void GOMP_critical_name_end(void** pptr) {
  using Fn = void (*)(void**);
  LOCKAUDIT_NEXT(Fn, GOMP_critical_name_end);
  if (real_GOMP_critical_name_end == nullptr) return;
  Release(ThisThread(), pptr, LOCKAUDIT_CALLER_SITE());
  real_GOMP_critical_name_end(pptr);
}

// ---- `#pragma omp critical`, LLVM's libomp ------------------------------------------------

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __kmpc_critical(void* loc, int32_t gtid, void* crit) {
  LOCKAUDIT_NEXT(KmpcCriticalFn, __kmpc_critical);
  if (real___kmpc_critical == nullptr) return;
  real___kmpc_critical(loc, gtid, crit);
  Entered(ThisThread(), crit, LOCKAUDIT_CALLER_SITE());
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __kmpc_critical_with_hint(void* loc, int32_t gtid, void* crit,
                                                   uintptr_t hint) {
  LOCKAUDIT_NEXT(KmpcCriticalHintFn, __kmpc_critical_with_hint);
  if (real___kmpc_critical_with_hint == nullptr) return;
  real___kmpc_critical_with_hint(loc, gtid, crit, hint);
  Entered(ThisThread(), crit, LOCKAUDIT_CALLER_SITE());
}

// NOLINTNEXTLINE(bugprone-reserved-identifier): the runtime's own name
LOCKAUDIT_INTERPOSE void __kmpc_end_critical(void* loc, int32_t gtid, void* crit) {
  LOCKAUDIT_NEXT(KmpcCriticalFn, __kmpc_end_critical);
  if (real___kmpc_end_critical == nullptr) return;
  Release(ThisThread(), crit, LOCKAUDIT_CALLER_SITE());
  real___kmpc_end_critical(loc, gtid, crit);
}
