// The LD_PRELOAD interposers: translate pthread, C11 and memory calls into core/provider events;
// decide nothing. Every interposer returns exactly what the real function returned.
//
// Blocking acquisitions first try the lock without blocking (one real call when uncontended);
// only when that fails does the engine run its pre-block checks (double_lock is reported before
// the thread hangs) and time the wait, and then the real blocking call is made.
//
// Not noexcept on the condition-variable waits: they are cancellation points, and a forced
// unwind through a noexcept frame would terminate the program.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <threads.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstring>
#include <type_traits>
#include <string>
#include <vector>

#include "confirm.h"
#include "engine_arena.h"
#include "engine_thread.h"
#include "hot_path.h"
#include "metrics.h"
#include "native_mutex.h"
#include "options.h"
#include "interpose.h"
#include "provider.h"
#include "raw_log.h"
#include "real.h"
#include "static_data.h"


namespace lockaudit::preload {
namespace {

using core::LockClass;
using core::Site;
using core::ThreadState;

// Resolves the real functions on first use (also before our constructor runs). The pointer
// check is one predictable load on the hot path.
inline bool Ready() {
  if (LOCKAUDIT_PREDICT_TRUE(real::g_resolved.load(std::memory_order_acquire))) return true;
  return real::Resolve();
}

// The calling thread's state, or null when the call must pass straight through.
inline ThreadState* Audited() { return core::ThisThread(); }

using core::MutexClass;

// glibc's mtx_t has the layout of pthread_mutex_t (it is one, behind a union).
const pthread_mutex_t* AsPthread(const mtx_t* m) { return reinterpret_cast<const pthread_mutex_t*>(m); }

// pthread_spinlock_t is a volatile int: its address, as the engine's key.
const void* SpinAddr(const volatile pthread_spinlock_t* l) {
  return const_cast<const void*>(static_cast<const volatile void*>(l));
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline bool PthreadAcquired(int rc) { return rc == 0 || rc == EOWNERDEAD; }
inline bool C11Acquired(int rc) { return rc == thrd_success; }

// An absolute CLOCK_MONOTONIC deadline.
inline timespec MonotonicAt(uint64_t ns) {
  return timespec{static_cast<time_t>(ns / 1000000000u), static_cast<long>(ns % 1000000000u)};
}

// The deadline technique (core/wake.h): a blocked thread waits with a deadline first; when it
// passes, the thread publishes its stack for the watchdog and waits on without one. `watch_fn`
// (deadline ns -> rc, ETIMEDOUT when it passed) or nullptr for calls that have their own timeout.
template <class BlockFn, class WatchFn>
inline int BlockWatched(ThreadState& ts, uint64_t token, BlockFn block_fn, WatchFn watch_fn) {
  if constexpr (!std::is_same_v<WatchFn, std::nullptr_t>) {
    const uint64_t at = core::BlockCheckAt(ts, token);
    if (at != 0) {
      int rc = watch_fn(at);
      // EINVAL: the clocked variant is not usable here (missing, or a PI mutex on a kernel
      // without FUTEX_LOCK_PI2): the plain call decides, as it would without lockaudit.
      if (rc == EINVAL) return block_fn();
      if (rc != ETIMEDOUT) return rc;
      core::OnStillBlocked(ts);
    }
  } else {
    (void)ts, (void)token, (void)watch_fn;
  }
  return block_fn();
}

// Every acquisition first makes the real non-blocking try, then:
//
//   const int rc = <real try>;
//   if (FastAfterTry(rc, lock, flags, LOCKAUDIT_CALLER_SITE())) return rc;
//   return LockSlow(...) / TrySlow(...);
//
// The fast path reads the thread state again after the try instead of keeping it from before,
// and the site is taken after it too: nothing but the lock's address lives across the call, so
// the interposer saves one callee-saved register instead of five. Each save is a store, and
// every store is drained before the next atomic instruction (the unlock's): on the uncontended
// path, stores, not instructions, set the cost. The default pthread mutex goes further (its
// try and unlock are done inline, core/native_mutex.h): see pthread_mutex_lock below.
__attribute__((always_inline)) inline bool FastAfterTry(int rc, const void* lock, uint32_t flags,
                                                        Site site) {
  ThreadState* ts = core::internal::tls_state;
  return LOCKAUDIT_PREDICT_TRUE(rc == 0 && ts != nullptr) &&
         core::FastAcquire(*ts, lock, flags | core::kFromShim, site);
}

// The rest of a blocking acquisition whose non-blocking try returned `rc` (`busy`: the lock is
// taken) and whose fast path declined: pre-block checks, the watched wait, the bookkeeping.
template <class BlockFn, class AcquiredFn, class WatchFn = std::nullptr_t>
__attribute__((noinline)) int LockSlow(const void* lock, LockClass cls, uint32_t flags, Site site,
                                       int busy, int rc, BlockFn block_fn, AcquiredFn acquired,
                                       WatchFn watch_fn = nullptr) {
  ThreadState* ts = Audited();
  if (ts == nullptr) return rc == busy ? block_fn() : rc;
  flags |= core::kFromShim;
  if (rc == busy) {
    uint64_t token = core::BeforeBlock(*ts, lock, cls, flags, site);
    rc = BlockWatched(*ts, token, block_fn, watch_fn);
    core::AfterBlock(*ts, lock, cls, flags, site, token, acquired(rc));
  } else if (acquired(rc)) {
    core::OnAcquired(*ts, lock, cls, flags, site);
  }
  return rc;
}

// The rest of a try whose fast path declined.
template <class AcquiredFn>
__attribute__((noinline)) int TrySlow(const void* lock, LockClass cls, uint32_t flags, Site site,
                                      int rc, AcquiredFn acquired) {
  ThreadState* ts = Audited();
  if (ts != nullptr && acquired(rc)) {
    core::OnAcquired(*ts, lock, cls, flags | core::kTry | core::kFromShim, site);
  }
  return rc;
}

// The rest of a release whose fast path declined; returns `unlock_fn()`.
template <class UnlockFn>
__attribute__((noinline)) int ReleaseSlow(const void* lock, Site site, UnlockFn unlock_fn) {
  ThreadState* ts = Audited();
  if (ts != nullptr) core::OnReleased(*ts, lock, site, core::kFromShim);
  return unlock_fn();
}

// The release fast path: true when the release is recorded (the caller then makes the real call).
__attribute__((always_inline)) inline bool FastRelease(const void* lock) {
  ThreadState* ts = Audited();
  return ts == nullptr || core::FastRelease(*ts, lock, core::kFromShim);
}

// Re-acquisition after a condition-variable wait, also when the wait is cancelled (the mutex is
// then re-acquired before the cleanup handlers run, which will unlock it).
class CondWaitScope {
 public:
  CondWaitScope(ThreadState* ts, const void* cond, const void* mutex, LockClass cls, Site site)
      : ts_(ts), cond_(cond), mutex_(mutex), cls_(cls), site_(site) {
    // A wait on a mutex this thread does not hold is not recorded (EPERM for an error-checking
    // mutex: the mutex stays unlocked after it).
    if (ts_ && !core::OnCondWaitBegin(*ts_, cond_, mutex_, site_, core::kFromShim)) ts_ = nullptr;
  }
  ~CondWaitScope() {
    if (ts_) core::OnCondWaitEnd(*ts_, cond_, mutex_, cls_, core::kFromShim, site_);
  }
  CondWaitScope(const CondWaitScope&) = delete;
  CondWaitScope& operator=(const CondWaitScope&) = delete;

 private:
  ThreadState* ts_;
  const void* cond_;
  const void* mutex_;
  LockClass cls_;
  Site site_;
};

// ---- Memory: locks that die without a destroy call -----------------------------------------

using FreeFn = void (*)(void*);
using UsableFn = size_t (*)(void*);
std::atomic<FreeFn> g_real_free{nullptr};
std::atomic<UsableFn> g_real_usable{nullptr};
std::atomic<bool> g_resolving_free{false};

// The next `free` in lookup order (glibc's, or a replacement allocator's).
FreeFn RealFree() {
  FreeFn f = g_real_free.load(std::memory_order_acquire);
  if (LOCKAUDIT_PREDICT_TRUE(f != nullptr)) return f;
  if (g_resolving_free.exchange(true)) return nullptr;  // a free from inside dlsym: leak it
  f = reinterpret_cast<FreeFn>(dlsym(RTLD_NEXT, "free"));
  g_real_usable.store(reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size")),
                      std::memory_order_release);
  g_real_free.store(f, std::memory_order_release);
  g_resolving_free.store(false);
  return f;
}

// Address ranges of the loaded objects (for dlclose).
struct Range {
  uintptr_t begin, end;
};
std::vector<Range> LoadedRanges() {
  std::vector<Range> ranges;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* arg) -> int {
        auto* out = static_cast<std::vector<Range>*>(arg);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD) {
            uintptr_t b = info->dlpi_addr + ph.p_vaddr;
            out->push_back(Range{b, b + ph.p_memsz});
          }
        }
        return 0;
      },
      &ranges);
  return ranges;
}

// ---- LOCKAUDIT_GTEST=1: findings fail the running test of an unmodified gtest binary --------
// That work is done by liblockaudit_gtest_preload.so, which must be preloaded from the start (it
// wraps __libc_start_main). When the variable is set and the helper is not loaded, the program
// is executed again, once, with the helper added to LD_PRELOAD: nothing of the program has run
// yet (preloaded constructors come first). Any failure: one warning, and the run goes on.
constexpr char kGtestHelper[] = "liblockaudit_gtest_preload.so";
constexpr char kGtestReexecGuard[] = "LOCKAUDIT_GTEST_REEXEC=1";

bool GtestHelperLoaded() {
  return dl_iterate_phdr(
             [](dl_phdr_info* info, size_t, void*) -> int {
               const char* name = info->dlpi_name ? strrchr(info->dlpi_name, '/') : nullptr;
               return name != nullptr && strcmp(name + 1, kGtestHelper) == 0;
             },
             nullptr) != 0;
}

void LoadGtestHelper(char** argv, char** envp) {
  if (argv == nullptr || envp == nullptr || GtestHelperLoaded()) return;
  for (char** e = envp; *e; ++e) {
    if (strcmp(*e, kGtestReexecGuard) == 0) {
      core::RawLog("lockaudit: warning: LOCKAUDIT_GTEST: %s did not load; tests are not failed "
                   "by findings\n", kGtestHelper);
      return;
    }
  }
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&LoadGtestHelper), &self) == 0 || self.dli_fname == nullptr) return;
  std::string helper = self.dli_fname;
  helper = helper.substr(0, helper.rfind('/') + 1) + kGtestHelper;
  if (access(helper.c_str(), R_OK) != 0) {
    core::RawLog("lockaudit: warning: LOCKAUDIT_GTEST: %s not found; tests are not failed by "
                 "findings\n", helper.c_str());
    return;
  }
  std::vector<std::string> env;
  bool have_preload = false;
  for (char** e = envp; *e; ++e) {
    if (strncmp(*e, "LD_PRELOAD=", 11) == 0) {
      env.push_back(std::string(*e) + " " + helper);
      have_preload = true;
    } else {
      env.push_back(*e);
    }
  }
  if (!have_preload) env.push_back("LD_PRELOAD=" + std::string(self.dli_fname) + " " + helper);
  env.push_back(kGtestReexecGuard);
  std::vector<char*> envv;
  envv.reserve(env.size() + 1);
  for (std::string& e : env) envv.push_back(e.data());
  envv.push_back(nullptr);
  execve("/proc/self/exe", argv, envv.data());
  core::RawLog("lockaudit: warning: LOCKAUDIT_GTEST: cannot re-execute the program with %s: %s\n",
               kGtestHelper, strerror(errno));
}

// ---- LOCKAUDIT_CUDA=1: load the CUPTI module (gpu/cupti) -----------------------------------
// liblockaudit_cupti.so is loaded from the shim's own directory and started through its
// InitializeInjection (the entry point CUDA_INJECTION64_PATH uses too; it starts once). It reaches
// this engine through the exported lockaudit_gpu_* functions. Any failure: one warning, and the
// run goes on without GPU tracing.
constexpr char kCuptiModule[] = "liblockaudit_cupti.so";

void LoadCuptiModule() {
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&LoadCuptiModule), &self) == 0 || self.dli_fname == nullptr) return;
  std::string path = self.dli_fname;
  path = path.substr(0, path.rfind('/') + 1) + kCuptiModule;
  void* module = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (module == nullptr) {
    const char* why = dlerror();
    core::RawLog("lockaudit: warning: LOCKAUDIT_CUDA: cannot load %s: %s; CUDA calls are not "
                 "traced\n", path.c_str(), why ? why : "unknown error");
    return;
  }
  auto* init = reinterpret_cast<int (*)()>(dlsym(module, "InitializeInjection"));
  if (init == nullptr) {
    core::RawLog("lockaudit: warning: LOCKAUDIT_CUDA: %s has no InitializeInjection; CUDA calls "
                 "are not traced\n", path.c_str());
    return;
  }
  init();  // warns by itself when CUPTI cannot trace
}

// ---- LOCKAUDIT_PROMETHEUS: serve /metrics (issue 5) ----------------------------------------
// Last in InitShim: after the gtest re-exec decision (an exec would kill the HTTP threads). The
// exporter library is loaded and its threads started inside an EngineScope (lockaudit/src/
// metrics.cc); any failure is one warning and the program runs on.
void StartMetrics() { lockaudit::metrics::StartFromOptions(); }

// oneTBB's mutexes report to an ITT collector (itt.cc): when none is named, the shim is it, for
// ITT's "sync" group. Here, where setenv is safe (no other thread yet); a collector the user
// named (VTune's) is kept.
void OfferIttCollector() {
  if (getenv("INTEL_LIBITTNOTIFY64") != nullptr) return;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&OfferIttCollector), &info) == 0 || info.dli_fname == nullptr) {
    return;
  }
  char path[PATH_MAX];  // (LD_PRELOAD may name the shim by a relative path)
  if (realpath(info.dli_fname, path) == nullptr) return;
  setenv("INTEL_LIBITTNOTIFY64", path, 0);
  setenv("INTEL_ITTNOTIFY_GROUPS", "sync", 0);  // the calls the collector takes
}

// glibc passes argc, argv and envp to the constructors of shared objects.
__attribute__((constructor(101))) void InitShim(int, char** argv, char** envp) {
  Ready();
  RealFree();
  core::NoteThreadStackNow();  // the main thread's stack, while malloc is safe
  if (const char* why = core::VerifyNativeMutex(
          {real::pthread_mutex_lock, real::pthread_mutex_trylock, real::pthread_mutex_unlock})) {
    core::RawLog("lockaudit: note: default mutexes are tried through pthread_mutex_trylock (%s)\n",
                 why);
  }
  core::EnsureInitialized();  // also registers the engine's fork handlers
  if (!core::Disabled()) core::EnableLightCancelScopes();  // pthread_cancel is interposed
  if (!core::Disabled()) core::ExportReportAppend();  // the processes it starts keep its report
  if (!core::Disabled()) OfferIttCollector();
  if (!core::Disabled() && core::GetOptions().gtest) LoadGtestHelper(argv, envp);
  if (!core::Disabled() && core::GetOptions().cuda) LoadCuptiModule();
  StartMetrics();
  // The program is initialised: the engine's threads may start, when the program needs them
  // (its second thread, a blocking wait): until then it keeps glibc's single-thread lock path.
  core::StartBackground(/*lazy=*/true);
}

// glibc 2.36's trylock of an unrecoverable robust mutex sets the lock word to the caller's tid
// before it sees the state, then returns ENOTRECOVERABLE without clearing it (natively too: a
// second trylock by that thread then returns EBUSY). A blocking call's hidden try is the shim's
// own and must leave no trace: the word is put back, and the program's real call decides (it
// returns what it returns natively). False when the state is not that one.
bool UndoUnrecoverableTry(pthread_mutex_t* m) {
  constexpr int kNotRecoverable = 0x7ffffffe;  // glibc's PTHREAD_MUTEX_NOTRECOVERABLE owner
  if (__atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) != kNotRecoverable) return false;
  int expected = static_cast<int>(gettid());
  return __atomic_compare_exchange_n(&m->__data.__lock, &expected, 0, false, __ATOMIC_RELEASE,
                                     __ATOMIC_RELAXED);
}

// `rc` of MutexLockRest/MutexTryRest when nothing was tried yet.
constexpr int kNotTried = -2;

// pthread_mutex_lock after the inline try returned `rc` (core::TryDefaultMutex: 0, EBUSY, or -1:
// not a default mutex, or the inline path is not verified yet) and the fast path declined; or
// kNotTried (no thread state yet). Out of line, so that the interposer's fast path is a leaf.
// The interposer does not check that the real functions are resolved: the inline path needs
// none (it is turned on after they are), and every other path comes here.
__attribute__((noinline)) int MutexLockRest(pthread_mutex_t* m, int rc, Site site) noexcept {
  if (!Ready()) return ENOSYS;
  if (rc == kNotTried && Audited() == nullptr) return real::pthread_mutex_lock(m);
  if (rc < 0 && LOCKAUDIT_PREDICT_FALSE(core::g_confirm_on)) core::ConfirmBeforeLock(m, site);
  if (rc < 0) rc = real::pthread_mutex_trylock(m);
  if (rc == ENOTRECOVERABLE && UndoUnrecoverableTry(m)) return real::pthread_mutex_lock(m);
  // (Also when the inline try acquired it: its fast path covers the common case only.)
  if (FastAfterTry(rc, m, core::kExclusive, site)) return rc;
  return LockSlow(
      m, MutexClass(m), core::kExclusive, site, EBUSY, rc,
      [m] { return real::pthread_mutex_lock(m); }, PthreadAcquired, [m](uint64_t at) {
        if (real::pthread_mutex_clocklock == nullptr) return EINVAL;
        timespec d = MonotonicAt(at);
        return real::pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &d);
      });
}

// pthread_mutex_trylock after the inline try, as MutexLockRest.
__attribute__((noinline)) int MutexTryRest(pthread_mutex_t* m, int rc, Site site) noexcept {
  if (!Ready()) return ENOSYS;
  if (rc == kNotTried && Audited() == nullptr) return real::pthread_mutex_trylock(m);
  if (rc < 0) rc = real::pthread_mutex_trylock(m);
  if (FastAfterTry(rc, m, core::kTry, site)) return rc;
  return TrySlow(m, MutexClass(m), core::kExclusive, site, rc, PthreadAcquired);
}

// pthread_mutex_lock (kFlags = kExclusive, kRest = MutexLockRest) and pthread_mutex_trylock
// (kTry, MutexTryRest). The uncontended path makes no call (a default mutex is tried inline,
// core/native_mutex.h) and every other path leaves through a tail call to kRest, so the
// interposer saves no registers.
template <uint32_t kFlags, int (*kRest)(pthread_mutex_t*, int, Site) noexcept>
__attribute__((always_inline)) inline int MutexTry(pthread_mutex_t* m, Site site) noexcept {
  ThreadState* ts = core::internal::tls_state;
  if (LOCKAUDIT_PREDICT_FALSE(ts == nullptr)) return kRest(m, kNotTried, site);
  const int rc = core::TryDefaultAndRecord(*ts, m, m, kFlags | core::kFromShim, site);
  if (LOCKAUDIT_PREDICT_TRUE(rc == core::kRecorded)) return 0;
  return kRest(m, rc, site);
}

// pthread_mutex_unlock when the fast path declined (or the shim is not resolved, or the thread
// has no state yet).
__attribute__((noinline)) int MutexUnlockRest(pthread_mutex_t* m, Site site) noexcept {
  if (!Ready()) return ENOSYS;
  return ReleaseSlow(m, site, [m] { return real::pthread_mutex_unlock(m); });
}

}  // namespace
}  // namespace lockaudit::preload

using namespace lockaudit;            // NOLINT: interposers below are in the global namespace
using namespace lockaudit::preload;   // NOLINT

// Marker found by liblockaudit.so (dlsym) so that its engine stands down under the shim.
LOCKAUDIT_INTERPOSE const int lockaudit_preload_active = 1;

// ---- pthread mutex -----------------------------------------------------------------------

LOCKAUDIT_INTERPOSE int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* a) noexcept {
  if (!Ready()) return ENOSYS;
  int rc = real::pthread_mutex_init(m, a);
  if (rc == 0 && Audited() != nullptr) core::OnInit(m);
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_mutex_destroy(pthread_mutex_t* m) noexcept {
  if (!Ready()) return ENOSYS;
  ThreadState* ts = Audited();
  if (ts == nullptr) return real::pthread_mutex_destroy(m);
  Site site = LOCKAUDIT_CALLER_SITE();
  core::OnDestroy(ts, m, site, false);
  int rc = real::pthread_mutex_destroy(m);
  if (rc == 0) core::OnDestroy(ts, m, site, true);
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  return MutexTry<core::kExclusive, MutexLockRest>(m, LOCKAUDIT_CALLER_SITE());
}

LOCKAUDIT_INTERPOSE int pthread_mutex_trylock(pthread_mutex_t* m) noexcept {
  return MutexTry<core::kTry, MutexTryRest>(m, LOCKAUDIT_CALLER_SITE());
}

LOCKAUDIT_INTERPOSE int pthread_mutex_timedlock(pthread_mutex_t* m, const struct timespec* t) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::pthread_mutex_timedlock(m, t);
  const int rc = real::pthread_mutex_trylock(m);
  if (FastAfterTry(rc, m, core::kTimed, LOCKAUDIT_CALLER_SITE())) return rc;
  if (rc == ENOTRECOVERABLE && UndoUnrecoverableTry(m)) return real::pthread_mutex_timedlock(m, t);
  return LockSlow(m, MutexClass(m), core::kTimed, LOCKAUDIT_CALLER_SITE(), EBUSY, rc,
                  [m, t] { return real::pthread_mutex_timedlock(m, t); }, PthreadAcquired);
}

LOCKAUDIT_INTERPOSE int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t c,
                                                const struct timespec* t) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::pthread_mutex_clocklock(m, c, t);
  const int rc = real::pthread_mutex_trylock(m);
  if (FastAfterTry(rc, m, core::kTimed, LOCKAUDIT_CALLER_SITE())) return rc;
  if (rc == ENOTRECOVERABLE && UndoUnrecoverableTry(m)) return real::pthread_mutex_clocklock(m, c, t);
  return LockSlow(m, MutexClass(m), core::kTimed, LOCKAUDIT_CALLER_SITE(), EBUSY, rc,
                  [m, c, t] { return real::pthread_mutex_clocklock(m, c, t); }, PthreadAcquired);
}

LOCKAUDIT_INTERPOSE int pthread_mutex_unlock(pthread_mutex_t* m) noexcept {
  // A popped entry of the shim's own (kFromShim) was pushed by an interposer, after the real
  // functions were resolved.
  ThreadState* ts = core::internal::tls_state;
  if (LOCKAUDIT_PREDICT_TRUE(ts != nullptr) && core::FastRelease(*ts, m, core::kFromShim)) {
    return core::UnlockDefaultMutexOr(
        m, [](pthread_mutex_t* x) noexcept { return real::pthread_mutex_unlock(x); });
  }
  return MutexUnlockRest(m, LOCKAUDIT_CALLER_SITE());
}

// ---- pthread rwlock ----------------------------------------------------------------------

LOCKAUDIT_INTERPOSE int pthread_rwlock_init(pthread_rwlock_t* l, const pthread_rwlockattr_t* a) noexcept {
  if (!Ready()) return ENOSYS;
  int rc = real::pthread_rwlock_init(l, a);
  if (rc == 0 && Audited() != nullptr) core::OnInit(l);
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_rwlock_destroy(pthread_rwlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  ThreadState* ts = Audited();
  if (ts == nullptr) return real::pthread_rwlock_destroy(l);
  Site site = LOCKAUDIT_CALLER_SITE();
  core::OnDestroy(ts, l, site, false);
  int rc = real::pthread_rwlock_destroy(l);
  if (rc == 0) core::OnDestroy(ts, l, site, true);
  return rc;
}

// A read request's flags: kShared, and kWriterPreferring when the rwlock was initialised to
// prefer writers (glibc's __flags: 0 prefers readers; 1 and 2 prefer writers, and a reader
// then waits behind a waiting writer even while other readers hold the lock).
inline uint32_t ReadFlags(const pthread_rwlock_t* l, uint32_t flags) {
  return l->__data.__flags != 0 ? (flags | core::kWriterPreferring) : flags;
}

// `watch`: the clocked variant used for the deadline technique, or nullptr (timed calls).
#define LOCKAUDIT_RWLOCK_BLOCKING(name, tryname, flags, params, args, watch)                 \
  LOCKAUDIT_INTERPOSE int name params noexcept {                                              \
    if (!Ready()) return ENOSYS;                                                              \
    if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::name args;                \
    /* A timed call is not paused: the pause would spend its deadline. */                    \
    if (LOCKAUDIT_PREDICT_FALSE(core::g_confirm_on) && !((flags) & core::kTimed)) {           \
      core::ConfirmBeforeLock(l, LOCKAUDIT_CALLER_SITE());                                    \
    }                                                                                         \
    const int rc = real::tryname(l);                                                          \
    if (FastAfterTry(rc, l, flags, LOCKAUDIT_CALLER_SITE())) return rc;                       \
    return LockSlow(                                                                          \
        l, LockClass::kRwLock, flags, LOCKAUDIT_CALLER_SITE(), EBUSY, rc,                     \
        [=] { return real::name args; }, PthreadAcquired, watch);                             \
  }
// A writer-preferring rwlock is waited on without a deadline (EINVAL: the plain call): a
// writer whose timed wait ends leaves the queue for a moment, and a reader that arrives then
// gets in where, without lockaudit, it would have queued behind the writer (found by
// rwlock_writer_preferred, which deadlocks natively every time and did not in 1 of 2 runs
// under the shim). The watchdog then names such a waiter by its call site, not its stack.
#define LOCKAUDIT_RWLOCK_WATCH(clocked)                  \
  [l](uint64_t at) {                                     \
    if (real::clocked == nullptr || l->__data.__flags != 0) return EINVAL; \
    timespec d = MonotonicAt(at);                        \
    return real::clocked(l, CLOCK_MONOTONIC, &d);        \
  }
LOCKAUDIT_RWLOCK_BLOCKING(pthread_rwlock_rdlock, pthread_rwlock_tryrdlock, ReadFlags(l, core::kShared),
                          (pthread_rwlock_t * l), (l),
                          LOCKAUDIT_RWLOCK_WATCH(pthread_rwlock_clockrdlock))
LOCKAUDIT_RWLOCK_BLOCKING(pthread_rwlock_wrlock, pthread_rwlock_trywrlock, core::kExclusive,
                          (pthread_rwlock_t * l), (l),
                          LOCKAUDIT_RWLOCK_WATCH(pthread_rwlock_clockwrlock))
LOCKAUDIT_RWLOCK_BLOCKING(pthread_rwlock_timedrdlock, pthread_rwlock_tryrdlock,
                          ReadFlags(l, core::kShared | core::kTimed),
                          (pthread_rwlock_t * l, const struct timespec* t), (l, t), nullptr)
LOCKAUDIT_RWLOCK_BLOCKING(pthread_rwlock_timedwrlock, pthread_rwlock_trywrlock, core::kTimed,
                          (pthread_rwlock_t * l, const struct timespec* t), (l, t), nullptr)
LOCKAUDIT_RWLOCK_BLOCKING(pthread_rwlock_clockrdlock, pthread_rwlock_tryrdlock,
                          ReadFlags(l, core::kShared | core::kTimed),
                          (pthread_rwlock_t * l, clockid_t c, const struct timespec* t), (l, c, t),
                          nullptr)
LOCKAUDIT_RWLOCK_BLOCKING(pthread_rwlock_clockwrlock, pthread_rwlock_trywrlock, core::kTimed,
                          (pthread_rwlock_t * l, clockid_t c, const struct timespec* t), (l, c, t),
                          nullptr)
#undef LOCKAUDIT_RWLOCK_WATCH
#undef LOCKAUDIT_RWLOCK_BLOCKING

LOCKAUDIT_INTERPOSE int pthread_rwlock_tryrdlock(pthread_rwlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::pthread_rwlock_tryrdlock(l);
  const int rc = real::pthread_rwlock_tryrdlock(l);
  if (FastAfterTry(rc, l, core::kShared | core::kTry, LOCKAUDIT_CALLER_SITE())) return rc;
  return TrySlow(l, LockClass::kRwLock, core::kShared, LOCKAUDIT_CALLER_SITE(), rc,
                 PthreadAcquired);
}

LOCKAUDIT_INTERPOSE int pthread_rwlock_trywrlock(pthread_rwlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::pthread_rwlock_trywrlock(l);
  const int rc = real::pthread_rwlock_trywrlock(l);
  if (FastAfterTry(rc, l, core::kExclusive | core::kTry, LOCKAUDIT_CALLER_SITE())) return rc;
  return TrySlow(l, LockClass::kRwLock, core::kExclusive, LOCKAUDIT_CALLER_SITE(), rc,
                 PthreadAcquired);
}

LOCKAUDIT_INTERPOSE int pthread_rwlock_unlock(pthread_rwlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_TRUE(FastRelease(l))) return real::pthread_rwlock_unlock(l);
  return ReleaseSlow(l, LOCKAUDIT_CALLER_SITE(), [l] { return real::pthread_rwlock_unlock(l); });
}

// ---- pthread spinlock --------------------------------------------------------------------

LOCKAUDIT_INTERPOSE int pthread_spin_init(pthread_spinlock_t* l, int pshared) noexcept {
  if (!Ready()) return ENOSYS;
  int rc = real::pthread_spin_init(l, pshared);
  if (rc == 0 && Audited() != nullptr) core::OnInit(SpinAddr(l));
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_spin_destroy(pthread_spinlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  ThreadState* ts = Audited();
  if (ts == nullptr) return real::pthread_spin_destroy(l);
  Site site = LOCKAUDIT_CALLER_SITE();
  core::OnDestroy(ts, SpinAddr(l), site, false);
  int rc = real::pthread_spin_destroy(l);
  if (rc == 0) core::OnDestroy(ts, SpinAddr(l), site, true);
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_spin_lock(pthread_spinlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::pthread_spin_lock(l);
  if (LOCKAUDIT_PREDICT_FALSE(core::g_confirm_on)) {
    core::ConfirmBeforeLock(SpinAddr(l), LOCKAUDIT_CALLER_SITE());
  }
  const int rc = real::pthread_spin_trylock(l);
  if (FastAfterTry(rc, SpinAddr(l), core::kExclusive, LOCKAUDIT_CALLER_SITE())) return rc;
  return LockSlow(
      SpinAddr(l), LockClass::kSpinLock, core::kExclusive, LOCKAUDIT_CALLER_SITE(), EBUSY, rc,
      [l] { return real::pthread_spin_lock(l); }, PthreadAcquired, [l](uint64_t at) {
        // Spinning, as the real call does, with a look at the clock now and then.
        for (uint32_t i = 1;; ++i) {
          int rc = real::pthread_spin_trylock(l);
          if (rc != EBUSY) return rc;
          CpuRelax();
          if ((i & 1023) == 0) {
            timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (static_cast<uint64_t>(now.tv_sec) * 1000000000u + now.tv_nsec >= at) return ETIMEDOUT;
          }
        }
      });
}

LOCKAUDIT_INTERPOSE int pthread_spin_trylock(pthread_spinlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::pthread_spin_trylock(l);
  const int rc = real::pthread_spin_trylock(l);
  if (FastAfterTry(rc, SpinAddr(l), core::kTry, LOCKAUDIT_CALLER_SITE())) return rc;
  return TrySlow(SpinAddr(l), LockClass::kSpinLock, core::kExclusive, LOCKAUDIT_CALLER_SITE(), rc,
                 PthreadAcquired);
}

LOCKAUDIT_INTERPOSE int pthread_spin_unlock(pthread_spinlock_t* l) noexcept {
  if (!Ready()) return ENOSYS;
  if (LOCKAUDIT_PREDICT_TRUE(FastRelease(SpinAddr(l)))) return real::pthread_spin_unlock(l);
  return ReleaseSlow(SpinAddr(l), LOCKAUDIT_CALLER_SITE(),
                     [l] { return real::pthread_spin_unlock(l); });
}

// ---- pthread condition variables ---------------------------------------------------------

LOCKAUDIT_INTERPOSE int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* a) noexcept {
  if (!Ready()) return ENOSYS;
  return real::pthread_cond_init(c, a);
}

LOCKAUDIT_INTERPOSE int pthread_cond_destroy(pthread_cond_t* c) noexcept {
  if (!Ready()) return ENOSYS;
  if (Audited() != nullptr) core::OnCondDestroy(c);
  return real::pthread_cond_destroy(c);
}

LOCKAUDIT_INTERPOSE int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  if (!Ready()) return ENOSYS;
  CondWaitScope scope(Audited(), c, m, MutexClass(m), LOCKAUDIT_CALLER_SITE());
  return real::pthread_cond_wait(c, m);
}

LOCKAUDIT_INTERPOSE int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m,
                                               const struct timespec* t) {
  if (!Ready()) return ENOSYS;
  CondWaitScope scope(Audited(), c, m, MutexClass(m), LOCKAUDIT_CALLER_SITE());
  return real::pthread_cond_timedwait(c, m, t);
}

LOCKAUDIT_INTERPOSE int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clk,
                                               const struct timespec* t) {
  if (!Ready()) return ENOSYS;
  CondWaitScope scope(Audited(), c, m, MutexClass(m), LOCKAUDIT_CALLER_SITE());
  return real::pthread_cond_clockwait(c, m, clk, t);
}

LOCKAUDIT_INTERPOSE int pthread_cond_signal(pthread_cond_t* c) noexcept {
  if (!Ready()) return ENOSYS;
  if (Audited() != nullptr) core::OnCondSignal(c, false);
  return real::pthread_cond_signal(c);
}

LOCKAUDIT_INTERPOSE int pthread_cond_broadcast(pthread_cond_t* c) noexcept {
  if (!Ready()) return ENOSYS;
  if (Audited() != nullptr) core::OnCondSignal(c, true);
  return real::pthread_cond_broadcast(c);
}

// ---- Threads -----------------------------------------------------------------------------
// Thread exit (and thread_exit_holding) is seen through the engine's pthread key destructor,
// which runs for every thread that ever took an audited lock, however it ends.

// Threads created from inside the engine (an exporter's HTTP threads, the watchdog) belong to
// the engine for their whole life: never audited.
namespace {
struct EngineThreadStart {
  void* (*fn)(void*);
  void* arg;
};
void* EngineThreadMain(void* p) {
  EngineThreadStart start = *static_cast<EngineThreadStart*>(p);
  core::arena::Free(p);  // not free(): with an allocator preloaded first, that is the allocator's
  core::BecomeEngineThread();
  return start.fn(start.arg);
}
}  // namespace

// Engine threads symbolize (libdw keeps up to a few hundred KB of line-table entries on the
// stack): they get at least this much stack, whatever their creator asked for (civetweb's HTTP
// threads ask for little, and overflowed into a neighbour's stack).
constexpr size_t kEngineThreadStack = 8u << 20;

// Whether the attribute carries a caller-provided stack (then its size cannot change). glibc's
// pthread_attr_getstack() reports an unset stack address as 0 - stacksize, so address + size
// wraps to 0 exactly when none was set.
bool HasUserStack(const pthread_attr_t* attr) {
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(attr, &addr, &size) != 0) return true;  // unknown: leave it alone
  return reinterpret_cast<uintptr_t>(addr) + size != 0;
}

// A program thread notes its stack before its own code runs, where malloc is safe
// (core/engine_thread.h: the engine may first meet it inside its allocator's lock).
struct ProgramThreadStart {
  void* (*fn)(void*);
  void* arg;
  uintptr_t stack_lo;    // a caller-provided stack: its exact bounds
  uintptr_t stack_hi;
  size_t stack_size;     // else the size glibc allocated it with
  core::ThreadBirth birth;  // who created it, when (core/lineage.h)
};
void* ProgramThreadMain(void* p) {
  ProgramThreadStart start = *static_cast<ProgramThreadStart*>(p);
  core::arena::Free(p);
  if (start.stack_hi != 0) {
    core::NoteThreadStack(start.stack_lo, start.stack_hi);
  } else if (start.stack_size != 0) {
    // The thread's own frames all lie below this one; above it are glibc's start frame, the
    // thread descriptor and static TLS (a __thread lock there is not a stack lock).
    const auto hi = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    core::NoteThreadStack(hi > start.stack_size ? hi - start.stack_size : 0, hi);
  }
  core::OnThreadStart(start.birth);
  return start.fn(start.arg);
}

// The stack a new thread gets: exact bounds of a caller-provided one, else its size.
void StackOf(const pthread_attr_t* attr, ProgramThreadStart* s) {
  pthread_attr_t def;
  if (attr == nullptr) {
    if (pthread_attr_init(&def) != 0) return;
    attr = &def;  // glibc: an unset size reads as the process's default thread stack size
  }
  void* addr = nullptr;
  size_t size = 0;
  if (HasUserStack(attr) && pthread_attr_getstack(attr, &addr, &size) == 0) {
    s->stack_lo = reinterpret_cast<uintptr_t>(addr);
    s->stack_hi = s->stack_lo + size;
  } else if (pthread_attr_getstacksize(attr, &size) == 0) {
    s->stack_size = size;
  }
  if (attr == &def) pthread_attr_destroy(&def);
}

LOCKAUDIT_INTERPOSE int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                                       void* (*fn)(void*), void* arg) noexcept {
  if (!Ready()) return EAGAIN;
  if (!core::InsideEngine()) {
    if (core::Disabled()) return real::pthread_create(thread, attr, fn, arg);
    auto* start = static_cast<ProgramThreadStart*>(core::arena::Alloc(sizeof(ProgramThreadStart)));
    if (start == nullptr) return real::pthread_create(thread, attr, fn, arg);
    *start = ProgramThreadStart{fn, arg, 0, 0, 0, core::ThreadBirth{}};
    StackOf(attr, start);
    core::NeedBackground();  // the program's second thread: deadlocks become possible
    const core::ThreadBirth birth = core::OnThreadCreate();
    start->birth = birth;  // the thread frees `start`: not read after the create
    int rc = real::pthread_create(thread, attr, ProgramThreadMain, start);
    if (rc != 0) {
      core::arena::Free(start);
    } else {
      core::OnThreadCreated(static_cast<uintptr_t>(*thread), birth);
    }
    return rc;
  }
  auto* start = static_cast<EngineThreadStart*>(core::arena::Alloc(sizeof(EngineThreadStart)));
  if (start == nullptr) return EAGAIN;
  *start = EngineThreadStart{fn, arg};
  pthread_attr_t big;
  const pthread_attr_t* use = attr;
  size_t size = 0;
  if (attr == nullptr) {
    if (pthread_attr_init(&big) == 0 && pthread_attr_setstacksize(&big, kEngineThreadStack) == 0) {
      use = &big;
    }
  } else if (!HasUserStack(attr) && pthread_attr_getstacksize(attr, &size) == 0 &&
             size < kEngineThreadStack) {
    big = *attr;  // glibc: a shallow copy shares only the CPU set, which is not changed here
    if (pthread_attr_setstacksize(&big, kEngineThreadStack) == 0) use = &big;
  }
  // Engine threads block every asynchronous signal (core/engine_thread.h).
  int rc = core::CreateWithSignalsBlocked(real::pthread_create, thread, use, EngineThreadMain, start);
  if (attr == nullptr && use == &big) pthread_attr_destroy(&big);
  if (rc != 0) core::arena::Free(start);
  return rc;
}

// The engine's scopes skip pthread_setcancelstate until a program first cancels a thread
// (core/provider.h, BeforeCancel): the cancel is sent once the target is in no such scope.
LOCKAUDIT_INTERPOSE int pthread_cancel(pthread_t thread) {
  if (!Ready()) return ENOSYS;
  core::BeforeCancel(static_cast<uintptr_t>(thread));
  return real::pthread_cancel(thread);
}

// A successful join orders everything the joined thread did before what the joiner does next
// (core/lineage.h). The calls pass through unchanged.
LOCKAUDIT_INTERPOSE int pthread_join(pthread_t thread, void** ret) {
  if (!Ready()) return ENOSYS;
  // Which thread it is, asked before the join: after it, a new thread may get its pthread_t.
  const uint32_t joined = Audited() != nullptr ? core::ThreadToJoin(static_cast<uintptr_t>(thread)) : 0;
  const int rc = real::pthread_join(thread, ret);
  if (rc == 0 && joined != 0) core::OnThreadJoined(joined, static_cast<uintptr_t>(thread));
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_tryjoin_np(pthread_t thread, void** ret) noexcept {
  if (!Ready() || real::pthread_tryjoin_np == nullptr) return ENOSYS;
  // Which thread it is, asked before the join: after it, a new thread may get its pthread_t.
  const uint32_t joined = Audited() != nullptr ? core::ThreadToJoin(static_cast<uintptr_t>(thread)) : 0;
  const int rc = real::pthread_tryjoin_np(thread, ret);
  if (rc == 0 && joined != 0) core::OnThreadJoined(joined, static_cast<uintptr_t>(thread));
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_timedjoin_np(pthread_t thread, void** ret,
                                             const struct timespec* t) {
  if (!Ready() || real::pthread_timedjoin_np == nullptr) return ENOSYS;
  // Which thread it is, asked before the join: after it, a new thread may get its pthread_t.
  const uint32_t joined = Audited() != nullptr ? core::ThreadToJoin(static_cast<uintptr_t>(thread)) : 0;
  const int rc = real::pthread_timedjoin_np(thread, ret, t);
  if (rc == 0 && joined != 0) core::OnThreadJoined(joined, static_cast<uintptr_t>(thread));
  return rc;
}

LOCKAUDIT_INTERPOSE int pthread_clockjoin_np(pthread_t thread, void** ret, clockid_t c,
                                             const struct timespec* t) {
  if (!Ready() || real::pthread_clockjoin_np == nullptr) return ENOSYS;
  // Which thread it is, asked before the join: after it, a new thread may get its pthread_t.
  const uint32_t joined = Audited() != nullptr ? core::ThreadToJoin(static_cast<uintptr_t>(thread)) : 0;
  const int rc = real::pthread_clockjoin_np(thread, ret, c, t);
  if (rc == 0 && joined != 0) core::OnThreadJoined(joined, static_cast<uintptr_t>(thread));
  return rc;
}

// syscall(SYS_futex, FUTEX_WAIT...) is how libstdc++ waits in std::future::get/wait,
// std::atomic::wait, semaphores, latches and barriers: no pthread call to see. Only looked at
// for non-blocking contexts (blocking_in_nonblocking); every call passes through unchanged.
LOCKAUDIT_INTERPOSE long syscall(long number, ...) noexcept {
  va_list ap;
  va_start(ap, number);
  long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
  long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
  va_end(ap);
  if (!Ready() || real::syscall == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  if (number == SYS_futex) {
    const long cmd = a2 & FUTEX_CMD_MASK;
    if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) {
      if (ThreadState* ts = Audited()) {
        core::OnFutexWait(*ts, reinterpret_cast<const void*>(a1), LOCKAUDIT_CALLER_SITE());
      }
    }
  }
  return real::syscall(number, a1, a2, a3, a4, a5, a6);
}

LOCKAUDIT_INTERPOSE int pthread_setname_np(pthread_t thread, const char* name) noexcept {
  if (!Ready()) return ENOSYS;
  int rc = real::pthread_setname_np(thread, name);
  if (rc == 0 && Audited() != nullptr) {
    if (pthread_equal(thread, pthread_self())) {
      core::SetThreadName(name);
    } else {
      core::SetThreadNameOf(static_cast<uintptr_t>(thread), name);
    }
  }
  return rc;
}

// ---- C11 threads -------------------------------------------------------------------------

// glibc's thrd_create and thrd_join call its pthread internals directly, past the interposers
// above: the thread's creation and join are recorded here (core/lineage.h).
struct C11ThreadStart {
  thrd_start_t fn;
  void* arg;
  core::ThreadBirth birth;
};
int C11ThreadMain(void* p) {
  C11ThreadStart start = *static_cast<C11ThreadStart*>(p);
  core::arena::Free(p);
  core::OnThreadStart(start.birth);
  return start.fn(start.arg);
}

LOCKAUDIT_INTERPOSE int thrd_create(thrd_t* thread, thrd_start_t fn, void* arg) {
  if (!Ready() || real::thrd_create == nullptr) return thrd_error;
  if (core::InsideEngine() || core::Disabled()) return real::thrd_create(thread, fn, arg);
  auto* start = static_cast<C11ThreadStart*>(core::arena::Alloc(sizeof(C11ThreadStart)));
  if (start == nullptr) return real::thrd_create(thread, fn, arg);
  *start = C11ThreadStart{fn, arg, core::ThreadBirth{}};
  core::NeedBackground();
  const core::ThreadBirth birth = core::OnThreadCreate();
  start->birth = birth;
  const int rc = real::thrd_create(thread, C11ThreadMain, start);
  if (rc != thrd_success) {
    core::arena::Free(start);
  } else {
    core::OnThreadCreated(static_cast<uintptr_t>(*thread), birth);
  }
  return rc;
}

LOCKAUDIT_INTERPOSE int thrd_join(thrd_t thread, int* result) {
  if (!Ready() || real::thrd_join == nullptr) return thrd_error;
  const uint32_t joined = Audited() != nullptr ? core::ThreadToJoin(static_cast<uintptr_t>(thread)) : 0;
  const int rc = real::thrd_join(thread, result);
  if (rc == thrd_success && joined != 0) {
    core::OnThreadJoined(joined, static_cast<uintptr_t>(thread));
  }
  return rc;
}

LOCKAUDIT_INTERPOSE int mtx_init(mtx_t* m, int type) {  // <threads.h>: no noexcept
  if (!Ready()) return thrd_error;
  int rc = real::mtx_init(m, type);
  if (rc == thrd_success && Audited() != nullptr) core::OnInit(m);
  return rc;
}

LOCKAUDIT_INTERPOSE void mtx_destroy(mtx_t* m) {  // <threads.h>: no noexcept
  if (!Ready()) return;
  ThreadState* ts = Audited();
  if (ts != nullptr) {
    Site site = LOCKAUDIT_CALLER_SITE();
    core::OnDestroy(ts, m, site, false);
    core::OnDestroy(ts, m, site, true);  // mtx_destroy cannot fail
  }
  real::mtx_destroy(m);
}

LOCKAUDIT_INTERPOSE int mtx_lock(mtx_t* m) {  // <threads.h>: no noexcept
  if (!Ready()) return thrd_error;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::mtx_lock(m);
  if (LOCKAUDIT_PREDICT_FALSE(core::g_confirm_on)) core::ConfirmBeforeLock(m, LOCKAUDIT_CALLER_SITE());
  const int rc = real::mtx_trylock(m);
  if (FastAfterTry(rc, m, core::kExclusive, LOCKAUDIT_CALLER_SITE())) return rc;
  return LockSlow(
      m, MutexClass(AsPthread(m)), core::kExclusive, LOCKAUDIT_CALLER_SITE(), thrd_busy, rc,
      [m] { return real::mtx_lock(m); }, C11Acquired, [m](uint64_t at) {
        // glibc's mtx_lock is pthread_mutex_lock on the same object.
        if (real::pthread_mutex_clocklock == nullptr) return EINVAL;
        timespec d = MonotonicAt(at);
        int rc = real::pthread_mutex_clocklock(const_cast<pthread_mutex_t*>(AsPthread(m)),
                                               CLOCK_MONOTONIC, &d);
        if (rc == ETIMEDOUT || rc == EINVAL) return rc;
        return rc == 0 ? static_cast<int>(thrd_success) : static_cast<int>(thrd_error);
      });
}

LOCKAUDIT_INTERPOSE int mtx_timedlock(mtx_t* __restrict m, const struct timespec* __restrict t) {
  if (!Ready()) return thrd_error;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::mtx_timedlock(m, t);
  const int rc = real::mtx_trylock(m);
  if (FastAfterTry(rc, m, core::kTimed, LOCKAUDIT_CALLER_SITE())) return rc;
  return LockSlow(m, MutexClass(AsPthread(m)), core::kTimed, LOCKAUDIT_CALLER_SITE(), thrd_busy,
                  rc, [m, t] { return real::mtx_timedlock(m, t); }, C11Acquired);
}

LOCKAUDIT_INTERPOSE int mtx_trylock(mtx_t* m) {  // <threads.h>: no noexcept
  if (!Ready()) return thrd_error;
  if (LOCKAUDIT_PREDICT_FALSE(Audited() == nullptr)) return real::mtx_trylock(m);
  const int rc = real::mtx_trylock(m);
  if (FastAfterTry(rc, m, core::kTry, LOCKAUDIT_CALLER_SITE())) return rc;
  return TrySlow(m, MutexClass(AsPthread(m)), core::kExclusive, LOCKAUDIT_CALLER_SITE(), rc,
                 C11Acquired);
}

LOCKAUDIT_INTERPOSE int mtx_unlock(mtx_t* m) {  // <threads.h>: no noexcept
  if (!Ready()) return thrd_error;
  if (LOCKAUDIT_PREDICT_TRUE(FastRelease(m))) return real::mtx_unlock(m);
  return ReleaseSlow(m, LOCKAUDIT_CALLER_SITE(), [m] { return real::mtx_unlock(m); });
}

LOCKAUDIT_INTERPOSE int cnd_wait(cnd_t* c, mtx_t* m) {
  if (!Ready()) return thrd_error;
  CondWaitScope scope(Audited(), c, m, MutexClass(AsPthread(m)), LOCKAUDIT_CALLER_SITE());
  return real::cnd_wait(c, m);
}

LOCKAUDIT_INTERPOSE int cnd_timedwait(cnd_t* __restrict c, mtx_t* __restrict m,
                                      const struct timespec* __restrict t) {
  if (!Ready()) return thrd_error;
  CondWaitScope scope(Audited(), c, m, MutexClass(AsPthread(m)), LOCKAUDIT_CALLER_SITE());
  return real::cnd_timedwait(c, m, t);
}

LOCKAUDIT_INTERPOSE int cnd_signal(cnd_t* c) {  // <threads.h>: no noexcept
  if (!Ready()) return thrd_error;
  if (Audited() != nullptr) core::OnCondSignal(c, false);
  return real::cnd_signal(c);
}

LOCKAUDIT_INTERPOSE int cnd_broadcast(cnd_t* c) {  // <threads.h>: no noexcept
  if (!Ready()) return thrd_error;
  if (Audited() != nullptr) core::OnCondSignal(c, true);
  return real::cnd_broadcast(c);
}

// ---- Memory and libraries ----------------------------------------------------------------
// std::mutex and friends never call init/destroy, and freed memory is reused at once: a lock
// inside freed or unmapped memory is forgotten, so a new lock at that address starts clean.
// The filter (one bit per page that ever held a lock) keeps the common free() to two loads.

LOCKAUDIT_INTERPOSE void free(void* p) noexcept {
  FreeFn real_free = RealFree();
  if (p != nullptr) {
    UsableFn usable = g_real_usable.load(std::memory_order_acquire);
    if (usable != nullptr) {
      size_t size = usable(p);
      if (core::MayHoldLocks(p, size)) core::OnRangeFreed(p, size);  // keeps errno (Inside)
    }
  }
  if (real_free != nullptr) real_free(p);
}

LOCKAUDIT_INTERPOSE int munmap(void* addr, size_t len) noexcept {
  if (!Ready()) return (errno = ENOSYS, -1);
  if (core::MayHoldLocks(addr, len)) core::OnRangeFreed(addr, len);
  return real::munmap(addr, len);
}

LOCKAUDIT_INTERPOSE int dlclose(void* handle) noexcept {
  if (!Ready()) return -1;
  std::vector<Range> before;
  {
    core::EngineScope inside;
    before = LoadedRanges();
  }
  int rc = real::dlclose(handle);
  if (rc == 0) {
    core::EngineScope inside;
    std::vector<Range> after = LoadedRanges();
    for (const Range& r : before) {
      bool still = false;
      for (const Range& a : after) still = still || (a.begin == r.begin && a.end == r.end);
      if (!still) core::OnRangeFreed(reinterpret_cast<void*>(r.begin), r.end - r.begin);
    }
    core::static_data::Refresh();  // also takes in what was loaded since the last refresh
  }
  return rc;
}
