// The real (next) definitions of every interposed function, resolved with dlsym(RTLD_NEXT).
//
// Thread-safety: Resolve() may run concurrently from several threads (idempotent stores of the
// same pointers). Every pointer is resolved before first use, also for calls that arrive before
// the shim's constructor ran.
#ifndef LOCKAUDIT_PRELOAD_REAL_H_
#define LOCKAUDIT_PRELOAD_REAL_H_

#include <pthread.h>

#include <atomic>
#include <threads.h>
#include <time.h>

namespace lockaudit::preload::real {

// X(name, return type, parameter list, dlvsym version or nullptr). `noexcept` after the parameter
// list for the functions that are not cancellation points: a call through such a pointer can be
// a tail call from a noexcept interposer.
#define LOCKAUDIT_REAL_FUNCTIONS(X)                                                                            \
  X(pthread_mutex_init, int, (pthread_mutex_t*, const pthread_mutexattr_t*) noexcept, nullptr)                 \
  X(pthread_mutex_destroy, int, (pthread_mutex_t*) noexcept, nullptr)                                          \
  X(pthread_mutex_lock, int, (pthread_mutex_t*) noexcept, nullptr)                                             \
  X(pthread_mutex_trylock, int, (pthread_mutex_t*) noexcept, nullptr)                                          \
  X(pthread_mutex_timedlock, int, (pthread_mutex_t*, const struct timespec*) noexcept, nullptr)                \
  X(pthread_mutex_clocklock, int, (pthread_mutex_t*, clockid_t, const struct timespec*) noexcept, nullptr)     \
  X(pthread_mutex_unlock, int, (pthread_mutex_t*) noexcept, nullptr)                                           \
  X(pthread_rwlock_init, int, (pthread_rwlock_t*, const pthread_rwlockattr_t*) noexcept, nullptr)              \
  X(pthread_rwlock_destroy, int, (pthread_rwlock_t*) noexcept, nullptr)                                        \
  X(pthread_rwlock_rdlock, int, (pthread_rwlock_t*) noexcept, nullptr)                                         \
  X(pthread_rwlock_wrlock, int, (pthread_rwlock_t*) noexcept, nullptr)                                         \
  X(pthread_rwlock_tryrdlock, int, (pthread_rwlock_t*) noexcept, nullptr)                                      \
  X(pthread_rwlock_trywrlock, int, (pthread_rwlock_t*) noexcept, nullptr)                                      \
  X(pthread_rwlock_timedrdlock, int, (pthread_rwlock_t*, const struct timespec*) noexcept, nullptr)            \
  X(pthread_rwlock_timedwrlock, int, (pthread_rwlock_t*, const struct timespec*) noexcept, nullptr)            \
  X(pthread_rwlock_clockrdlock, int, (pthread_rwlock_t*, clockid_t, const struct timespec*) noexcept, nullptr) \
  X(pthread_rwlock_clockwrlock, int, (pthread_rwlock_t*, clockid_t, const struct timespec*) noexcept, nullptr) \
  X(pthread_rwlock_unlock, int, (pthread_rwlock_t*) noexcept, nullptr)                                         \
  X(pthread_spin_init, int, (pthread_spinlock_t*, int) noexcept, nullptr)                                      \
  X(pthread_spin_destroy, int, (pthread_spinlock_t*) noexcept, nullptr)                                        \
  X(pthread_spin_lock, int, (pthread_spinlock_t*) noexcept, nullptr)                                           \
  X(pthread_spin_trylock, int, (pthread_spinlock_t*) noexcept, nullptr)                                        \
  X(pthread_spin_unlock, int, (pthread_spinlock_t*) noexcept, nullptr)                                         \
  X(pthread_cond_init, int, (pthread_cond_t*, const pthread_condattr_t*), "GLIBC_2.3.2")                       \
  X(pthread_cond_destroy, int, (pthread_cond_t*), "GLIBC_2.3.2")                                               \
  X(pthread_cond_wait, int, (pthread_cond_t*, pthread_mutex_t*), "GLIBC_2.3.2")                                \
  X(pthread_cond_timedwait, int, (pthread_cond_t*, pthread_mutex_t*, const struct timespec*),                  \
    "GLIBC_2.3.2")                                                                                             \
  X(pthread_cond_clockwait, int,                                                                               \
    (pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*), nullptr)                           \
  X(pthread_cond_signal, int, (pthread_cond_t*) noexcept, "GLIBC_2.3.2")                                       \
  X(pthread_cond_broadcast, int, (pthread_cond_t*) noexcept, "GLIBC_2.3.2")                                    \
  X(pthread_setname_np, int, (pthread_t, const char*), nullptr)                                                \
  X(pthread_create, int, (pthread_t*, const pthread_attr_t*, void* (*)(void*), void*), nullptr)                \
  X(pthread_join, int, (pthread_t, void**), nullptr)                                                           \
  X(pthread_cancel, int, (pthread_t), nullptr)                                                                 \
  X(pthread_tryjoin_np, int, (pthread_t, void**) noexcept, nullptr)                                            \
  X(pthread_timedjoin_np, int, (pthread_t, void**, const struct timespec*), nullptr)                           \
  X(pthread_clockjoin_np, int, (pthread_t, void**, clockid_t, const struct timespec*), nullptr)                \
  X(syscall, long, (long, ...), nullptr)                                                                       \
  X(thrd_create, int, (thrd_t*, thrd_start_t, void*), nullptr)                                                \
  X(thrd_join, int, (thrd_t, int*), nullptr)                                                                   \
  X(mtx_init, int, (mtx_t*, int) noexcept, nullptr)                                                            \
  X(mtx_destroy, void, (mtx_t*) noexcept, nullptr)                                                             \
  X(mtx_lock, int, (mtx_t*) noexcept, nullptr)                                                                 \
  X(mtx_timedlock, int, (mtx_t*, const struct timespec*) noexcept, nullptr)                                    \
  X(mtx_trylock, int, (mtx_t*) noexcept, nullptr)                                                              \
  X(mtx_unlock, int, (mtx_t*) noexcept, nullptr)                                                               \
  X(cnd_wait, int, (cnd_t*, mtx_t*), nullptr)                                                                  \
  X(cnd_timedwait, int, (cnd_t*, mtx_t*, const struct timespec*), nullptr)                                     \
  X(cnd_signal, int, (cnd_t*) noexcept, nullptr)                                                               \
  X(cnd_broadcast, int, (cnd_t*) noexcept, nullptr)                                                            \
  X(munmap, int, (void*, size_t), nullptr)                                                                     \
  X(dlclose, int, (void*), nullptr)

#define LOCKAUDIT_DECLARE_REAL(name, ret, params, version) extern ret(*name) params;
LOCKAUDIT_REAL_FUNCTIONS(LOCKAUDIT_DECLARE_REAL)
#undef LOCKAUDIT_DECLARE_REAL

// Set (release) once every pointer is resolved; the interposers check it (acquire) first.
extern std::atomic<bool> g_resolved;

// Resolves every pointer that is still null. Returns true when the core functions (mutex lock
// and unlock) are there; an optional function missing (older glibc) is reported once and calls
// to it alone fail.
bool Resolve() noexcept;

}  // namespace lockaudit::preload::real

#endif  // LOCKAUDIT_PRELOAD_REAL_H_
