// liblockaudit's public entry points: the wrapper types' detail:: calls, the C API and the
// query API, each a thin translation into core/provider and core/tracker.
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "lockaudit/audit.h"
#include "lockaudit/lockaudit.h"
#include "lockaudit/mutex.h"
#include "hot_path.h"
#include "native_mutex.h"
#include "provider.h"
#include "raw_log.h"
#include "report.h"
#include "stats.h"
#include "tracker.h"

namespace lockaudit {
namespace core_ = ::lockaudit::core;

static_assert(detail::kMutexClass == static_cast<int>(core_::LockClass::kMutex));
static_assert(detail::kRecursiveClass == static_cast<int>(core_::LockClass::kRecursiveMutex));
static_assert(detail::kSharedClass == static_cast<int>(core_::LockClass::kRwLock));
static_assert(detail::kShared == unsigned{core_::kShared} && detail::kTry == unsigned{core_::kTry} &&
              detail::kTimed == unsigned{core_::kTimed});
static_assert(LOCKAUDIT_ACQUIRE_SHARED == core_::kShared && LOCKAUDIT_ACQUIRE_TRY == core_::kTry);
static_assert(no_level == core_::kNoLevel && LOCKAUDIT_NO_LEVEL == core_::kNoLevel);

namespace {
core_::LockClass Cls(int c) { return static_cast<core_::LockClass>(c); }

// Initialise at load so that options are parsed (and their warnings printed) at startup, and the
// exit handler is registered before the program's own.
//
// One engine per process: liblockaudit_preload.so contains this file too and exports the same
// public symbols, so under the shim every call from the program binds to the shim's copy. This
// library's own engine must then never start (it would audit the shim's own locks and
// write a second report).
__attribute__((constructor)) void InitAtLoad() {
#ifndef LOCKAUDIT_IN_PRELOAD
  if (dlsym(RTLD_DEFAULT, "lockaudit_preload_active") != nullptr) {
    core_::StandDown();
    return;
  }
  // The shim probes with the functions it resolved; here they are glibc's own.
  if (const char* why = core_::VerifyNativeMutex(
          {&pthread_mutex_lock, &pthread_mutex_trylock, &pthread_mutex_unlock})) {
    core_::RawLog("lockaudit: note: default mutexes are tried through pthread_mutex_trylock (%s)\n",
                  why);
  }
#endif
  core_::EnsureInitialized();
#ifndef LOCKAUDIT_IN_PRELOAD
  core_::StartBackground();  // the shim does this from its own constructor
#endif
}
}  // namespace

namespace detail {

__attribute__((noinline)) void Created(const void* lock, int cls, std::string_view name,
                                       int level) noexcept {
#ifndef LOCKAUDIT_IN_PRELOAD
  // Unnamed, unleveled locks are registered at their first acquisition: construction stays a
  // call and a return. (In the shim every instrumented lock is registered at once, marked as
  // managed, so that the shim ignores its std:: type's own pthread calls.)
  if (name.empty() && level == no_level) return;
#endif
  std::string n(name);
  core_::OnCreate(lock, Cls(cls), n.empty() ? nullptr : n.c_str(), level, /*api_managed=*/true);
}

__attribute__((noinline)) void Destroyed(const void* lock) noexcept {
  if (core_::IdOf(lock) == 0) return;  // never locked: nothing to forget
  core_::Site site = LOCKAUDIT_CALLER_SITE();
  core_::ThreadState* ts = core_::ThisThread();
  core_::OnDestroy(ts, lock, site, false);
  core_::OnDestroy(ts, lock, site, true);
}

__attribute__((noinline)) void Acquired(const void* lock, int cls, unsigned flags) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (LOCKAUDIT_PREDICT_FALSE(ts == nullptr)) return;
  const core_::Site site = LOCKAUDIT_CALLER_SITE();
  if (LOCKAUDIT_PREDICT_TRUE(core_::FastAcquire(*ts, lock, flags, site))) return;
  core_::OnAcquired(*ts, lock, Cls(cls), flags, site);
}

__attribute__((noinline)) uint64_t BeforeBlock(const void* lock, int cls, unsigned flags) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (ts == nullptr) return 0;
  return core_::BeforeBlock(*ts, lock, Cls(cls), flags, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) void AfterBlock(const void* lock, int cls, unsigned flags,
                                          uint64_t token, bool acquired) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (ts == nullptr) return;
  core_::AfterBlock(*ts, lock, Cls(cls), flags, LOCKAUDIT_CALLER_SITE(), token, acquired);
}

// The deadline technique (core/wake.h) for the wrapped std:: types: wait with a deadline
// first; past it, publish this thread's stack for the watchdog and wait on without one.
int LockWatched(uint64_t token, pthread_mutex_t* m) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  const uint64_t at = ts != nullptr ? core_::BlockCheckAt(*ts, token) : 0;
  if (at != 0) {
    timespec d{static_cast<time_t>(at / 1000000000u), static_cast<long>(at % 1000000000u)};
    int rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &d);
    if (rc != ETIMEDOUT && rc != EINVAL) return rc;  // EINVAL: not usable here, lock plainly
    if (rc == EINVAL) return pthread_mutex_lock(m);
    core_::OnStillBlocked(*ts);
  }
  return pthread_mutex_lock(m);
}

int LockWatched(uint64_t token, pthread_rwlock_t* l, unsigned flags) noexcept {
  const bool shared = (flags & kShared) != 0;
  core_::ThreadState* ts = core_::ThisThread();
  const uint64_t at = ts != nullptr ? core_::BlockCheckAt(*ts, token) : 0;
  if (at != 0) {
    timespec d{static_cast<time_t>(at / 1000000000u), static_cast<long>(at % 1000000000u)};
    int rc = shared ? pthread_rwlock_clockrdlock(l, CLOCK_MONOTONIC, &d)
                    : pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, &d);
    if (rc == EINVAL) return shared ? pthread_rwlock_rdlock(l) : pthread_rwlock_wrlock(l);
    if (rc != ETIMEDOUT) return rc;
    core_::OnStillBlocked(*ts);
  }
  return shared ? pthread_rwlock_rdlock(l) : pthread_rwlock_wrlock(l);
}

void NonblockingBegin() noexcept { core_::NonblockingBegin(); }
void NonblockingEnd() noexcept { core_::NonblockingEnd(); }

namespace {
// LockMutexTry/TryLockMutex after the inline try acquired `m` and its fast path declined: the
// full fast path, then the slow path.
__attribute__((noinline)) bool AcquiredMutexRest(const void* lock, pthread_mutex_t* m,
                                                 unsigned flags, core_::Site site) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (ts != nullptr && !core_::FastAcquire(*ts, lock, flags, site)) {
    core_::OnAcquired(*ts, lock, core_::MutexClass(m), flags, site);
  }
  return true;
}

// LockMutexTry/TryLockMutex when nothing was tried inline (not a default mutex, the inline path
// off, or no thread state yet): glibc's try.
__attribute__((noinline)) bool UntriedMutexRest(const void* lock, pthread_mutex_t* m,
                                                unsigned flags, core_::Site site) noexcept {
  if (pthread_mutex_trylock(m) != 0) return false;
  return AcquiredMutexRest(lock, m, flags, site);
}

// The try of LockMutexTry (kFlags = kExclusive) and TryLockMutex (kTry). The uncontended path
// makes no call (core/native_mutex.h) and every other path leaves through a tail call, with
// few values live: no register is saved (each save is a store, drained before the next atomic).
// (Two rest functions, not one taking the try's result: the result would stay live in a
// register through the fast path, and cost a saved one.)
template <unsigned kFlags>
__attribute__((always_inline)) inline bool TryMutex(const void* lock, pthread_mutex_t* m,
                                                    core_::Site site) noexcept {
  core_::ThreadState* ts = core_::internal::tls_state;
  if (LOCKAUDIT_PREDICT_FALSE(ts == nullptr)) return UntriedMutexRest(lock, m, kFlags, site);
  const int rc = core_::TryDefaultAndRecord(*ts, m, lock, kFlags, site);
  if (LOCKAUDIT_PREDICT_TRUE(rc == core_::kRecorded)) return true;
  if (rc == 0) return AcquiredMutexRest(lock, m, kFlags, site);
  if (rc == EBUSY) return false;
  return UntriedMutexRest(lock, m, kFlags, site);
}

__attribute__((noinline)) void UnlockMutexRest(const void* lock, pthread_mutex_t* m,
                                               core_::Site site) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (ts != nullptr && !core_::FastRelease(*ts, lock, 0)) core_::OnReleased(*ts, lock, site);
  pthread_mutex_unlock(m);
}
}  // namespace

__attribute__((noinline)) bool LockMutexTry(const void* lock, pthread_mutex_t* m) noexcept {
  return TryMutex<core_::kExclusive>(lock, m, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) bool TryLockMutex(const void* lock, pthread_mutex_t* m) noexcept {
  return TryMutex<core_::kTry>(lock, m, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) bool LockMutexAt(pthread_mutex_t* m) noexcept {
  return TryMutex<core_::kExclusive>(m, m, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) bool TryLockMutexAt(pthread_mutex_t* m) noexcept {
  return TryMutex<core_::kTry>(m, m, LOCKAUDIT_CALLER_SITE());
}

namespace {
// UnlockMutex and UnlockMutexAt: the release's record and the unlock; the uncontended path
// makes no call but the wake's (a tail call).
__attribute__((always_inline)) inline void Unlock(const void* lock, pthread_mutex_t* m,
                                                  core_::Site site) noexcept {
  core_::ThreadState* ts = core_::internal::tls_state;
  if (LOCKAUDIT_PREDICT_TRUE(ts != nullptr) && core_::FastRelease(*ts, lock, 0)) {
    core_::UnlockDefaultMutexOr(m, [](pthread_mutex_t* x) { return pthread_mutex_unlock(x); });
    return;
  }
  UnlockMutexRest(lock, m, site);
}
}  // namespace

__attribute__((noinline)) void UnlockMutex(const void* lock, pthread_mutex_t* m) noexcept {
  Unlock(lock, m, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) void UnlockMutexAt(pthread_mutex_t* m) noexcept {
  Unlock(m, m, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) void Released(const void* lock) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (LOCKAUDIT_PREDICT_FALSE(ts == nullptr)) return;
  if (LOCKAUDIT_PREDICT_TRUE(core_::FastRelease(*ts, lock, 0))) return;
  core_::OnReleased(*ts, lock, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) void CondWaitBegin(const void* cv, const void* lock) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (ts == nullptr) return;
  core_::OnCondWaitBegin(*ts, cv, lock, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) void CondWaitEnd(const void* cv, const void* lock, int cls) noexcept {
  core_::ThreadState* ts = core_::ThisThread();
  if (ts == nullptr) return;
  core_::OnCondWaitEnd(*ts, cv, lock, Cls(cls), 0, LOCKAUDIT_CALLER_SITE());
}

void CondNotify(const void* cv, bool all) noexcept { core_::OnCondSignal(cv, all); }

bool IsHeld(const void* lock) noexcept { return core_::IsHeldByCurrentThread(lock); }

void AssertFailed(const void* lock, bool want_held, const char* file, unsigned line) noexcept {
  std::string name = core_::IdOf(lock) ? core_::LockName(core_::IdOf(lock)) : "";
  core_::RawLog("lockaudit: assertion failed at %s:%u: lock %s (%p) is %s by this thread\n", file,
                line, name.empty() ? "(never locked)" : name.c_str(), lock,
                want_held ? "not held" : "held");
  abort();
}

}  // namespace detail

// ---- Query API ---------------------------------------------------------------------------

namespace {

std::vector<Frame> Frames(core_::StackId id) {
  std::vector<Frame> out;
  for (const core_::SymbolizedFrame& f : core_::SymbolizeStack(id)) {
    out.push_back(Frame{f.pc, f.function, f.file, f.line, f.module});
  }
  return out;
}

LockInfo Lock(const core_::ReportLock& l) {
  LockInfo i{l.id, l.name, l.addr, std::nullopt};
  if (l.level != core_::kNoLevel) i.level = l.level;
  return i;
}

Finding Convert(const core_::Finding& f) {
  core_::EngineScope inside;
  core_::ProgramHeapScope heap;  // the result belongs to the program
  Finding out;
  out.kind = core_::KindName(f.kind);
  out.message = f.message;
  out.single_thread = f.single_thread;
  for (const auto& l : f.locks) out.locks.push_back(Lock(l));
  for (const auto& e : f.edges) {
    out.edges.push_back(EdgeEvidence{e.from, e.to, ThreadInfo{e.thread.tid, e.thread.name},
                                     Frames(e.stack), Frames(e.held_stack)});
  }
  for (const auto& t : f.threads) out.threads.push_back(ThreadInfo{t.tid, t.name});
  out.stack = Frames(f.stack);
  out.text = f.text;
  out.json = f.json;
  return out;
}

struct CallbackBox {
  std::function<void(const Finding&)> fn;
};

void CallBox(const core_::Finding& f, void* arg) { static_cast<CallbackBox*>(arg)->fn(Convert(f)); }

}  // namespace

std::vector<Finding> findings() {
  std::vector<Finding> out;
  for (const core_::Finding& f : core_::AllFindings()) {
    if (!f.suppressed) out.push_back(Convert(f));
  }
  return out;
}

std::vector<Finding> potential_deadlocks() {
  std::vector<Finding> out;
  for (const core_::Finding& f : core_::AllFindings()) {
    if (!f.suppressed && f.kind == core_::FindingKind::kLockOrderCycle) out.push_back(Convert(f));
  }
  return out;
}

std::vector<HierarchyViolation> verify_hierarchy() {
  std::vector<HierarchyViolation> out;
  for (const auto& v : core_::VerifyHierarchy()) out.push_back({Lock(v.from), Lock(v.to)});
  return out;
}

LockGraph graph() {
  LockGraph g;
  core_::GraphSnapshot s = core_::SnapshotGraph();
  for (const auto& n : s.nodes) g.nodes.push_back(Lock(n));
  g.edges.assign(s.edges.begin(), s.edges.end());
  return g;
}

LockStatistics lock_statistics(const void* lock) {
  core_::LockStats s = core_::StatsFor(lock);
  return LockStatistics{s.acquisitions, s.contentions, s.wait_ns, s.hold_ns};
}

int on_finding(std::function<void(const Finding&)> fn) {
  // The box lives as long as the handle; callbacks are few and rarely removed.
  auto* box = new CallbackBox{std::move(fn)};
  return core_::AddFindingCallback(CallBox, box);
}

void remove_finding_callback(int handle) { core_::RemoveFindingCallback(handle); }

}  // namespace lockaudit

// ---- C API -------------------------------------------------------------------------------

namespace {
lockaudit_finding_handler g_handler = nullptr;
void* g_handler_arg = nullptr;
int g_handler_handle = 0;
void CallCHandler(const lockaudit::core::Finding& f, void*) {
  if (g_handler) g_handler(f.json.c_str(), g_handler_arg);
}
}  // namespace

extern "C" {

int lockaudit_cond_wake_quantile(const void* cond, double q, double* seconds) {
  lockaudit::core::stats::Histogram h = lockaudit::core::stats::CondWake(cond);
  if (seconds != nullptr) *seconds = lockaudit::core::stats::Quantile(h, q);
  return static_cast<int>(std::min<uint64_t>(h.Count(), 2147483647u));
}

void lockaudit_nonblocking_begin(void) { lockaudit::core::NonblockingBegin(); }
void lockaudit_nonblocking_end(void) { lockaudit::core::NonblockingEnd(); }

void lockaudit_set_name(void* lock, const char* name) { lockaudit::core::SetLockName(lock, name); }
void lockaudit_set_level(void* lock, int level) { lockaudit::core::SetLockLevel(lock, level); }

__attribute__((noinline)) void lockaudit_acquire(void* lock, int flags) {
  lockaudit::core::ThreadState* ts = lockaudit::core::ThisThread();
  if (ts == nullptr) return;
  lockaudit::core::OnAcquired(*ts, lock, lockaudit::core::LockClass::kCustom,
                              static_cast<uint32_t>(flags), LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) void lockaudit_release(void* lock) {
  lockaudit::core::ThreadState* ts = lockaudit::core::ThisThread();
  if (ts == nullptr) return;
  lockaudit::core::OnReleased(*ts, lock, LOCKAUDIT_CALLER_SITE());
}

__attribute__((noinline)) void lockaudit_destroy(void* lock) {
  lockaudit::core::Site site = LOCKAUDIT_CALLER_SITE();
  lockaudit::core::ThreadState* ts = lockaudit::core::ThisThread();
  lockaudit::core::OnDestroy(ts, lock, site, false);
  lockaudit::core::OnDestroy(ts, lock, site, true);
}

void lockaudit_set_finding_handler(lockaudit_finding_handler handler, void* arg) {
  if (g_handler_handle) lockaudit::core::RemoveFindingCallback(g_handler_handle);
  g_handler_handle = 0;
  g_handler = handler;
  g_handler_arg = arg;
  if (handler) g_handler_handle = lockaudit::core::AddFindingCallback(CallCHandler, nullptr);
}

unsigned long lockaudit_finding_count(void) { return lockaudit::core::FindingCount(); }

}  // extern "C"

// ---- GPU events (gpu/cupti, gpu/dispatch): thin calls into core/provider ---------------------

extern "C" {

__attribute__((noinline)) void lockaudit_gpu_sync_begin(const char* api) {
  lockaudit::core::ThreadState* ts = lockaudit::core::ThisThread();
  if (ts == nullptr || api == nullptr) return;
  lockaudit::core::OnGpuSyncBegin(*ts, api, LOCKAUDIT_CALLER_SITE());
}

void lockaudit_gpu_sync_end(const char* api, unsigned long long duration_ns) {
  lockaudit::core::ThreadState* ts = lockaudit::core::ThisThread();
  if (ts == nullptr || api == nullptr) return;
  lockaudit::core::OnGpuSyncEnd(*ts, api, duration_ns);
}

void lockaudit_gpu_activity(const char* name, unsigned long long duration_ns) {
  if (name == nullptr) return;
  lockaudit::core::OnGpuActivity(name, duration_ns);
}

void lockaudit_dispatch(int to_gpu) { lockaudit::core::OnDispatch(to_gpu != 0); }

}  // extern "C"
