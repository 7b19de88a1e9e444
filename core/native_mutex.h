// core/native_mutex.h: the non-blocking try and the unlock of a default glibc mutex, done inline
// by the front-ends instead of calling pthread_mutex_trylock / pthread_mutex_unlock.
//
// Why: an uncontended lock+unlock costs about 20 cycles natively. Calling glibc's trylock from
// the interposer adds a call level and glibc's type dispatch: that alone measured 1.41x native
// (bench/workloads w1), leaving nothing of the 1.5x budget (DESIGN.md §7) for the books. For the
// default mutex type, both are glibc's own few steps, done here:
//
//   try:    compare-and-swap __lock 0 -> 1 (acquire); __owner = kernel tid; ++__nusers
//   unlock: __owner = 0; --__nusers; exchange __lock -> 0 (release); if it was 2 (waiters),
//           FUTEX_WAKE_PRIVATE one waiter
//
// exactly what glibc does for PTHREAD_MUTEX_TIMED_NP (nptl/pthread_mutex_trylock.c,
// pthread_mutex_unlock.c, lowlevellock.h), leaving the mutex in the state glibc's own lock,
// unlock and condvar wait expect. Every other type (recursive, error-checking, adaptive, robust,
// priority protocols, process-shared, lock elision) has other bits set in __kind and goes to
// glibc.
//
// Safety: VerifyNativeMutex() checks this protocol against the running glibc once at start-up
// (glibc's lock, trylock and unlock and the inline ones on a probe mutex, every byte compared);
// if anything differs, the inline path is off for the process and glibc is called as before.
// Thread-safety: the mutex word is touched only with the atomic glibc uses; __owner and __nusers
// are written by the new owner, as glibc does.
#ifndef LOCKAUDIT_CORE_NATIVE_MUTEX_H_
#define LOCKAUDIT_CORE_NATIVE_MUTEX_H_

#include <errno.h>
#include <pthread.h>
#include <sys/single_threaded.h>

#include <atomic>
#include <cstdint>

#include "provider.h"

namespace lockaudit::core {

// 0 once VerifyNativeMutex() accepted this glibc (try and unlock), -1 before and when refused:
// the form the fast paths test with one OR against the mutex's __kind ("__kind | guard" is 0
// exactly for a default mutex with the inline path on). A plain int, written by
// VerifyNativeMutex at start-up, before any other thread exists.
extern int g_inline_mutex_guard;
inline bool InlineMutexPathOn() { return g_inline_mutex_guard == 0; }

// The engine's class of a pthread mutex: glibc keeps the type in the low bits of __kind (set at
// init, never changed).
inline LockClass MutexClass(const pthread_mutex_t* m) {
  return (m->__data.__kind & 3) == PTHREAD_MUTEX_RECURSIVE_NP ? LockClass::kRecursiveMutex
                                                              : LockClass::kMutex;
}

// The real glibc functions the probe uses (the shim's resolved pointers, or glibc's directly).
struct NativeMutexFns {
  int (*lock)(pthread_mutex_t*);
  int (*trylock)(pthread_mutex_t*);
  int (*unlock)(pthread_mutex_t*);
};

// Probes the protocol above on a private mutex and sets g_inline_mutex_guard. Returns the reason
// it was refused, or nullptr when accepted. Call once, before audited threads lock.
const char* VerifyNativeMutex(const NativeMutexFns& fns) noexcept;

// Wakes one thread blocked on the mutex word (the contended unlock). Returns 0 (the unlock's
// result), so that an unlock ends with a tail call to it and saves no register for it.
int WakeMutexWaiter(pthread_mutex_t* m) noexcept;

// The protocol itself, without looking at g_inline_mutex_guard (the probe runs it before it
// turns the path on, so no other thread ever sees an unverified inline path).
namespace native {
inline bool IsDefault(const pthread_mutex_t* m) {
  return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) == PTHREAD_MUTEX_TIMED_NP;
}

// The try of a mutex known to be a default one: 0 or EBUSY.
// While the process has only ever had one thread (glibc's __libc_single_threaded, which goes
// false for good at the first pthread_create), glibc takes and releases a default mutex with
// plain loads and stores, no atomic instruction: so does this, or a single-threaded program
// would pay 5x for an uncontended lock under the shim. A process-shared mutex is not a default
// one and never comes here.
__attribute__((always_inline)) inline int TryKnownDefault(pthread_mutex_t* m,
                                                         uint32_t tid) noexcept {
  if (__libc_single_threaded) {
    if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) != 0) return EBUSY;
    __atomic_store_n(&m->__data.__lock, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_ACQUIRE);
    m->__data.__owner = static_cast<int>(tid);
    ++m->__data.__nusers;
    return 0;
  }
  int expected = 0;
  if (!__atomic_compare_exchange_n(&m->__data.__lock, &expected, 1, /*weak=*/false,
                                   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    return EBUSY;
  }
  m->__data.__owner = static_cast<int>(tid);
  ++m->__data.__nusers;
  return 0;
}

__attribute__((always_inline)) inline int Try(pthread_mutex_t* m, uint32_t tid) noexcept {
  return IsDefault(m) ? TryKnownDefault(m, tid) : -1;
}

// The unlock of a mutex known to be a default one, but for the wake: true when a thread waits
// (the caller then calls WakeMutexWaiter, as a tail call where it can).
__attribute__((always_inline)) inline bool ReleaseKnownDefault(pthread_mutex_t* m) noexcept {
  m->__data.__owner = 0;
  --m->__data.__nusers;
  if (__libc_single_threaded) {  // as TryKnownDefault: no other thread, so no waiter either
    __atomic_signal_fence(__ATOMIC_RELEASE);
    const int old = __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
    __atomic_store_n(&m->__data.__lock, 0, __ATOMIC_RELAXED);
    return __builtin_expect(old > 1, 0);
  }
  return __builtin_expect(__atomic_exchange_n(&m->__data.__lock, 0, __ATOMIC_RELEASE) > 1, 0);
}

__attribute__((always_inline)) inline int Unlock(pthread_mutex_t* m) noexcept {
  if (!IsDefault(m)) return -1;
  if (ReleaseKnownDefault(m)) return WakeMutexWaiter(m);
  return 0;
}
}  // namespace native

// Is the inline path on and `m` a default mutex (then native::TryKnownDefault and
// native::ReleaseKnownDefault do glibc's work)? One load of __kind, one OR, one branch.
__attribute__((always_inline)) inline bool InlineDefaultMutex(const pthread_mutex_t* m) noexcept {
  return (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) | g_inline_mutex_guard) == 0;
}

// 0: acquired (as glibc's trylock would); EBUSY: held by someone; -1: not a default mutex (or
// the inline try is off): call glibc's trylock. `tid`: the calling thread's kernel tid.
__attribute__((always_inline)) inline int TryDefaultMutex(pthread_mutex_t* m,
                                                         uint32_t tid) noexcept {
  return InlineDefaultMutex(m) ? native::TryKnownDefault(m, tid) : -1;
}

// The unlock of `m` by its owner: inline for a default mutex (0, as glibc's unlock returns;
// the wake, when a thread waits, and `other` are tail calls), `other(m)` for any other (a lambda,
// so that a function pointer it calls is loaded only on that path).
template <class Other>
__attribute__((always_inline)) inline int UnlockDefaultMutexOr(pthread_mutex_t* m,
                                                              Other other) noexcept {
  if (LOCKAUDIT_PREDICT_FALSE(!InlineDefaultMutex(m))) return other(m);
  if (LOCKAUDIT_PREDICT_FALSE(native::ReleaseKnownDefault(m))) return WakeMutexWaiter(m);
  return 0;
}

// 0: released (as glibc's unlock would); -1: not a default mutex (or the inline path is off):
// call glibc's unlock.
__attribute__((always_inline)) inline int UnlockDefaultMutex(pthread_mutex_t* m) noexcept {
  return UnlockDefaultMutexOr(m, [](pthread_mutex_t*) { return -1; });
}

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_NATIVE_MUTEX_H_
