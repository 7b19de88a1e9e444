// <lockaudit/mutex.h>: drop-in instrumented lock types.
//
//   lockaudit::mutex accounts_mu("accounts", /*level=*/10);
//   std::lock_guard<lockaudit::mutex> lock(accounts_mu);
//   lockaudit::assert_held(accounts_mu);
//
// Each type wraps the std:: type of the same name and behaves exactly like it (same blocking,
// same exceptions, usable with std::lock_guard, std::unique_lock, std::scoped_lock,
// std::shared_lock and std::condition_variable_any). In addition every acquisition and release
// is reported to the lockaudit engine, which learns the lock-order graph and reports potential
// deadlocks, hierarchy violations and misuse (see the README).
//
// Names and levels: `name` appears in reports (else the variable's symbol or first lock site is
// used); `level` enables hierarchy checking: a lock may only be acquired while every held lock
// with a level has a strictly lower one.
//
// Cost: an uncontended lock+unlock of the mutex types is two calls into liblockaudit (in place of
// the two into glibc) that touch thread-local memory and the lock only (bench/mutex_bench).
// Compile with -DLOCKAUDIT_ENABLED=0 to make every type a plain std:: type (the calls vanish at
// compile time; name/level are ignored).
//
// Thread-safety: as the std:: types. Destroying a lock forgets its lock-order edges, so a new
// lock at the same address starts clean.
#ifndef LOCKAUDIT_MUTEX_H_
#define LOCKAUDIT_MUTEX_H_

#include <pthread.h>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <source_location>
#include <string_view>
#include <system_error>

#ifndef LOCKAUDIT_ENABLED
#define LOCKAUDIT_ENABLED 1
#endif

#define LOCKAUDIT_PUBLIC __attribute__((visibility("default")))

namespace lockaudit {

inline constexpr int no_level = -2147483647 - 1;

namespace detail {

inline constexpr bool kEnabled = LOCKAUDIT_ENABLED != 0;

// Values of core::LockClass and core::AcquireFlags (checked by static_assert in api.cc).
enum : int { kMutexClass = 0, kRecursiveClass = 1, kSharedClass = 2 };
enum : unsigned { kExclusive = 0, kShared = 1, kTry = 2, kTimed = 4 };

// Entry points into liblockaudit. Each records its caller's site, so they are out of line.
LOCKAUDIT_PUBLIC void Created(const void* lock, int cls, std::string_view name, int level) noexcept;
LOCKAUDIT_PUBLIC void Destroyed(const void* lock) noexcept;
LOCKAUDIT_PUBLIC void Acquired(const void* lock, int cls, unsigned flags) noexcept;
LOCKAUDIT_PUBLIC uint64_t BeforeBlock(const void* lock, int cls, unsigned flags) noexcept;
LOCKAUDIT_PUBLIC void AfterBlock(const void* lock, int cls, unsigned flags, uint64_t token,
                                 bool acquired) noexcept;
LOCKAUDIT_PUBLIC void Released(const void* lock) noexcept;
// For types whose wrapped lock is a pthread mutex: the non-blocking try and, when it succeeds,
// the acquisition's record, in one call (a default mutex is tried inline, without calling
// glibc): LockMutexTry for the first try of lock() (recorded as a blocking acquisition),
// TryLockMutex for try_lock(); and the release's record with the unlock.
LOCKAUDIT_PUBLIC bool LockMutexTry(const void* lock, pthread_mutex_t* m) noexcept;
LOCKAUDIT_PUBLIC bool TryLockMutex(const void* lock, pthread_mutex_t* m) noexcept;
LOCKAUDIT_PUBLIC void UnlockMutex(const void* lock, pthread_mutex_t* m) noexcept;
// The same for a type whose pthread mutex sits at the type's own address (lock == m), as in
// every type here: one pointer less to keep live through the fast path.
LOCKAUDIT_PUBLIC bool LockMutexAt(pthread_mutex_t* m) noexcept;
LOCKAUDIT_PUBLIC bool TryLockMutexAt(pthread_mutex_t* m) noexcept;
LOCKAUDIT_PUBLIC void UnlockMutexAt(pthread_mutex_t* m) noexcept;
// The blocking wait of a contended lock (after BeforeBlock): waits with the watchdog's deadline
// first (core/wake.h), then without one. Returns what the pthread call returned.
LOCKAUDIT_PUBLIC int LockWatched(uint64_t token, pthread_mutex_t* m) noexcept;
LOCKAUDIT_PUBLIC int LockWatched(uint64_t token, pthread_rwlock_t* l, unsigned flags) noexcept;
LOCKAUDIT_PUBLIC void NonblockingBegin() noexcept;
LOCKAUDIT_PUBLIC void NonblockingEnd() noexcept;
LOCKAUDIT_PUBLIC void CondWaitBegin(const void* cv, const void* lock) noexcept;
LOCKAUDIT_PUBLIC void CondWaitEnd(const void* cv, const void* lock, int cls) noexcept;
LOCKAUDIT_PUBLIC void CondNotify(const void* cv, bool all) noexcept;
LOCKAUDIT_PUBLIC bool IsHeld(const void* lock) noexcept;
[[noreturn]] LOCKAUDIT_PUBLIC void AssertFailed(const void* lock, bool want_held,
                                                const char* file, unsigned line) noexcept;

// Blocks on the wrapped std:: lock as its lock()/lock_shared() would (libstdc++: a pthread
// mutex or rwlock behind native_handle()), with the watchdog's deadline first.
template <class Native>
void LockNative(uint64_t token, Native& native, unsigned flags) {
  int rc = 0;
  if constexpr (requires { { native.native_handle() } -> std::same_as<pthread_mutex_t*>; }) {
    rc = LockWatched(token, native.native_handle());
  } else if constexpr (requires { { native.native_handle() } -> std::same_as<pthread_rwlock_t*>; }) {
    rc = LockWatched(token, native.native_handle(), flags);
  } else if (flags & kShared) {
    native.lock_shared();
  } else {
    native.lock();
  }
  if (rc != 0) throw std::system_error(rc, std::generic_category());
}

// Shared implementation of every exclusive type. Native: the std:: type wrapped.
template <class Native, int kClass>
class ExclusiveLock {
 public:
  explicit ExclusiveLock(std::string_view name = {}, int level = no_level) {
    if constexpr (kEnabled) Created(this, kClass, name, level);
  }
  ~ExclusiveLock() {
    if constexpr (kEnabled) Destroyed(this);
  }
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

  void lock() {
    if constexpr (kEnabled) {
      if (__builtin_expect(TryAcquire(kExclusive), 1)) return;
      uint64_t token = BeforeBlock(this, kClass, kExclusive);
      LockNative(token, native_, kExclusive);
      AfterBlock(this, kClass, kExclusive, token, true);
    } else {
      native_.lock();
    }
  }
  bool try_lock() {
    if constexpr (kEnabled) {
      return TryAcquire(kTry);
    } else {
      return native_.try_lock();
    }
  }
  void unlock() {
    if constexpr (kEnabled && kPthreadMutex) {
      pthread_mutex_t* m = native_.native_handle();
      if (static_cast<const void*>(m) == static_cast<const void*>(this)) {  // (known at compile time)
        UnlockMutexAt(m);
      } else {
        UnlockMutex(this, m);
      }
    } else {
      if constexpr (kEnabled) Released(this);
      native_.unlock();
    }
  }

  // The wrapped lock. Locking it directly bypasses auditing.
  Native& native() noexcept { return native_; }

 protected:
  // libstdc++'s std::mutex, timed_mutex and the recursive ones wrap a pthread mutex.
  static constexpr bool kPthreadMutex = requires(Native& n) {
    { n.native_handle() } -> std::same_as<pthread_mutex_t*>;
  };

  // The non-blocking try and, when it succeeds, the acquisition's record.
  bool TryAcquire(unsigned flags) {
    if constexpr (kPthreadMutex) {
      pthread_mutex_t* m = native_.native_handle();
      if (static_cast<const void*>(m) == static_cast<const void*>(this)) {  // (known at compile time)
        return flags == kTry ? TryLockMutexAt(m) : LockMutexAt(m);
      }
      return flags == kTry ? TryLockMutex(this, m) : LockMutexTry(this, m);
    } else {
      bool ok = native_.try_lock();
      if (ok) Acquired(this, kClass, flags);
      return ok;
    }
  }

  template <class Try, class Block>
  bool TimedLock(unsigned flags, Try try_now, Block block) {
    if constexpr (kEnabled) {
      if (try_now()) {
        Acquired(this, kClass, flags);
        return true;
      }
      uint64_t token = BeforeBlock(this, kClass, flags | kTimed);
      bool ok = block();
      AfterBlock(this, kClass, flags | kTimed, token, ok);
      return ok;
    } else {
      return block();
    }
  }

  Native native_;
};

template <class Native, int kClass>
class TimedLockBase : public ExclusiveLock<Native, kClass> {
 public:
  using ExclusiveLock<Native, kClass>::ExclusiveLock;
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return this->TimedLock(kExclusive, [&] { return this->native_.try_lock(); },
                           [&] { return this->native_.try_lock_for(d); });
  }
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& t) {
    return this->TimedLock(kExclusive, [&] { return this->native_.try_lock(); },
                           [&] { return this->native_.try_lock_until(t); });
  }
};

template <class Native, class Base>
class SharedLockBase : public Base {
 public:
  using Base::Base;
  void lock_shared() {
    if constexpr (kEnabled) {
      if (__builtin_expect(this->native_.try_lock_shared(), 1)) {
        Acquired(this, kSharedClass, kShared);
        return;
      }
      uint64_t token = BeforeBlock(this, kSharedClass, kShared);
      LockNative(token, this->native_, kShared);
      AfterBlock(this, kSharedClass, kShared, token, true);
    } else {
      this->native_.lock_shared();
    }
  }
  bool try_lock_shared() {
    bool ok = this->native_.try_lock_shared();
    if constexpr (kEnabled) {
      if (ok) Acquired(this, kSharedClass, kShared | kTry);
    }
    return ok;
  }
  void unlock_shared() {
    if constexpr (kEnabled) Released(this);
    this->native_.unlock_shared();
  }
};

}  // namespace detail

class mutex : public detail::ExclusiveLock<std::mutex, detail::kMutexClass> {
 public:
  explicit mutex(std::string_view name = {}, int level = no_level) : ExclusiveLock(name, level) {}
};

class timed_mutex : public detail::TimedLockBase<std::timed_mutex, detail::kMutexClass> {
 public:
  explicit timed_mutex(std::string_view name = {}, int level = no_level)
      : TimedLockBase(name, level) {}
};

class recursive_mutex : public detail::ExclusiveLock<std::recursive_mutex, detail::kRecursiveClass> {
 public:
  explicit recursive_mutex(std::string_view name = {}, int level = no_level)
      : ExclusiveLock(name, level) {}
};

class recursive_timed_mutex
    : public detail::TimedLockBase<std::recursive_timed_mutex, detail::kRecursiveClass> {
 public:
  explicit recursive_timed_mutex(std::string_view name = {}, int level = no_level)
      : TimedLockBase(name, level) {}
};

class shared_mutex
    : public detail::SharedLockBase<std::shared_mutex,
                                    detail::ExclusiveLock<std::shared_mutex, detail::kSharedClass>> {
 public:
  explicit shared_mutex(std::string_view name = {}, int level = no_level)
      : SharedLockBase(name, level) {}
};

class shared_timed_mutex
    : public detail::SharedLockBase<
          std::shared_timed_mutex,
          detail::TimedLockBase<std::shared_timed_mutex, detail::kSharedClass>> {
 public:
  explicit shared_timed_mutex(std::string_view name = {}, int level = no_level)
      : SharedLockBase(name, level) {}
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d) {
    return this->TimedLock(detail::kShared, [&] { return this->native_.try_lock_shared(); },
                           [&] { return this->native_.try_lock_shared_for(d); });
  }
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& t) {
    return this->TimedLock(detail::kShared, [&] { return this->native_.try_lock_shared(); },
                           [&] { return this->native_.try_lock_shared_until(t); });
  }
};

// A condition variable for std::unique_lock<lockaudit::mutex>. While waiting, the mutex is
// released in the engine's view and re-acquired when the wait returns. For other lock types use
// std::condition_variable_any, which works with every type above.
// Marks the calling thread as a non-blocking context for the scope's lifetime (nestable): an
// event-loop or executor thread that blocks on a contended lock, waits on a condition variable
// or on a futex (std::future::get, std::atomic::wait, ...) inside it gets the finding
// blocking_in_nonblocking. C: lockaudit_nonblocking_begin()/end() in <lockaudit/lockaudit.h>.
class nonblocking_scope {
 public:
  nonblocking_scope() noexcept {
    if constexpr (detail::kEnabled) detail::NonblockingBegin();
  }
  ~nonblocking_scope() {
    if constexpr (detail::kEnabled) detail::NonblockingEnd();
  }
  nonblocking_scope(const nonblocking_scope&) = delete;
  nonblocking_scope& operator=(const nonblocking_scope&) = delete;
};

class condition_variable {
 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  void notify_one() noexcept {
    if constexpr (detail::kEnabled) detail::CondNotify(this, false);
    cv_.notify_one();
  }
  void notify_all() noexcept {
    if constexpr (detail::kEnabled) detail::CondNotify(this, true);
    cv_.notify_all();
  }
  void wait(std::unique_lock<mutex>& lk) {
    Wait(lk, [&](std::unique_lock<std::mutex>& inner) {
      cv_.wait(inner);
      return std::cv_status::no_timeout;
    });
  }
  template <class Predicate>
  void wait(std::unique_lock<mutex>& lk, Predicate pred) {
    while (!pred()) wait(lk);
  }
  template <class Rep, class Period>
  std::cv_status wait_for(std::unique_lock<mutex>& lk, const std::chrono::duration<Rep, Period>& d) {
    return Wait(lk, [&](std::unique_lock<std::mutex>& inner) { return cv_.wait_for(inner, d); });
  }
  template <class Rep, class Period, class Predicate>
  bool wait_for(std::unique_lock<mutex>& lk, const std::chrono::duration<Rep, Period>& d,
                Predicate pred) {
    return wait_until(lk, std::chrono::steady_clock::now() + d, std::move(pred));
  }
  template <class Clock, class Duration>
  std::cv_status wait_until(std::unique_lock<mutex>& lk,
                            const std::chrono::time_point<Clock, Duration>& t) {
    return Wait(lk, [&](std::unique_lock<std::mutex>& inner) { return cv_.wait_until(inner, t); });
  }
  template <class Clock, class Duration, class Predicate>
  bool wait_until(std::unique_lock<mutex>& lk, const std::chrono::time_point<Clock, Duration>& t,
                  Predicate pred) {
    while (!pred()) {
      if (wait_until(lk, t) == std::cv_status::timeout) return pred();
    }
    return true;
  }
  std::condition_variable& native() noexcept { return cv_; }

 private:
  template <class WaitFn>
  std::cv_status Wait(std::unique_lock<mutex>& lk, WaitFn wait_fn) {
    mutex* m = lk.mutex();
    if constexpr (detail::kEnabled) detail::CondWaitBegin(this, m);
    // However the wait ends (also by unwinding), `lk` owns the re-acquired mutex again and the
    // engine sees it held: the guard releases `inner` and reports the re-acquisition.
    struct Reacquired {
      condition_variable* cv;
      mutex* m;
      std::unique_lock<std::mutex> inner;
      ~Reacquired() {
        inner.release();
        if constexpr (detail::kEnabled) detail::CondWaitEnd(cv, m, detail::kMutexClass);
      }
    } guard{this, m, std::unique_lock<std::mutex>(m->native(), std::adopt_lock)};
    return wait_fn(guard.inner);
  }
  std::condition_variable cv_;
};

// Fails (prints the lock and the call site, then aborts) unless the calling thread holds `m`.
template <class Lock>
void assert_held(const Lock& m, std::source_location loc = std::source_location::current()) {
  if constexpr (detail::kEnabled) {
    if (!detail::IsHeld(&m)) detail::AssertFailed(&m, true, loc.file_name(), loc.line());
  }
}
// Fails unless the calling thread does not hold `m`.
template <class Lock>
void assert_not_held(const Lock& m, std::source_location loc = std::source_location::current()) {
  if constexpr (detail::kEnabled) {
    if (detail::IsHeld(&m)) detail::AssertFailed(&m, false, loc.file_name(), loc.line());
  }
}
// Whether the calling thread holds `m` (false when auditing is compiled out or disabled).
template <class Lock>
bool is_held(const Lock& m) {
  if constexpr (detail::kEnabled) return detail::IsHeld(&m);
  return false;
}

}  // namespace lockaudit

#endif  // LOCKAUDIT_MUTEX_H_
