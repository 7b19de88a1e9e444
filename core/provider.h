// core/provider: the one door through which every front-end (instrumented types, LD_PRELOAD shim,
// CUPTI module) feeds the engine. Front-ends translate their calls into these events and decide
// nothing; all semantics (DESIGN.md §2) live behind this header.
//
// Thread-safety: every function may be called from any thread at any time, including before the
// engine's constructors ran (they then initialise it) and from signal handlers of audited threads
// (events are dropped while a thread is inside the engine).
// Cost: OnAcquired/OnReleased with nothing new to learn touch thread-local memory only
// (DESIGN.md §7); everything else is out of line.
#ifndef LOCKAUDIT_CORE_PROVIDER_H_
#define LOCKAUDIT_CORE_PROVIDER_H_

#include <cstddef>
#include <cstdint>

#define LOCKAUDIT_PREDICT_FALSE(x) (__builtin_expect(!!(x), 0))
#define LOCKAUDIT_PREDICT_TRUE(x) (__builtin_expect(!!(x), 1))
#define LOCKAUDIT_COLD __attribute__((cold, noinline))
#define LOCKAUDIT_EXPORT __attribute__((visibility("default")))

namespace lockaudit::core {

class ThreadState;

// What kind of primitive a lock address denotes. Fixed at the lock's first event.
enum class LockClass : uint8_t {
  kMutex = 0,          // non-recursive exclusive lock (pthread mutex, std::mutex, C11 mtx_plain)
  kRecursiveMutex = 1, // re-locking by the holder adds nothing
  kRwLock = 2,         // shared/exclusive
  kSpinLock = 3,
  kCustom = 4,         // annotated through lockaudit_acquire()
};

// Acquisition flags.
enum AcquireFlags : uint32_t {
  kExclusive = 0,
  kShared = 1u << 0,  // read lock of a rwlock
  kTry = 1u << 1,     // trylock: never blocks, adds no edge into the lock
  kTimed = 1u << 2,   // timed acquisition: blocks, but gives up
  // With kShared: a read request of a writer-preferring rwlock
  // (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP). It queues behind a waiting writer, so it can
  // block while only readers hold the lock: two such read requests do not exempt a cycle.
  kWriterPreferring = 1u << 3,
  // The event comes from an interposed pthread/C11 call. Such events are ignored for locks that
  // the instrumented types manage (OnCreate with api_managed): under the shim their own
  // std:: calls reach the interposers too, and must not be counted twice.
  kFromShim = 1u << 8,
};

// Where a lock call came from: the return address into the caller and the caller's stack
// pointer at the call (its CFA). Recorded for every held lock at no cost; used to rebuild
// the stack of an outer acquisition when a new edge is learned (stacks.h).
struct Site {
  uintptr_t pc = 0;
  uintptr_t cfa = 0;
};
// Evaluated inside the function the user called (an interceptor or an out-of-line wrapper entry).
#define LOCKAUDIT_CALLER_SITE()                                                   \
  ::lockaudit::core::Site {                                                       \
    reinterpret_cast<uintptr_t>(__builtin_return_address(0)),                     \
        reinterpret_cast<uintptr_t>(__builtin_dwarf_cfa())                        \
  }

// Special level meaning "no hierarchy level".
inline constexpr int kNoLevel = -2147483647 - 1;

// ---- Thread state ------------------------------------------------------------------------

namespace internal {
// Set while the thread is audited; null inside the engine, in engine-owned threads, before the
// state exists and after the thread's exit. initial-exec: one TLS load, no call.
extern __thread ThreadState* tls_state __attribute__((tls_model("initial-exec")));
ThreadState* ThisThreadSlow() noexcept;
}  // namespace internal

// The calling thread's state, or nullptr when this thread is not audited right now: engine
// disabled (LOCKAUDIT_DISABLE=1), inside the engine, an engine-owned thread, or the thread is
// being torn down. Creates the state on a thread's first call. Cheap: one TLS load when set.
inline ThreadState* ThisThread() noexcept {
  ThreadState* ts = internal::tls_state;
  if (LOCKAUDIT_PREDICT_TRUE(ts != nullptr)) return ts;
  return internal::ThisThreadSlow();
}

// Marks the calling thread as inside the engine for its lifetime: events are passed through
// unaudited. Engine-owned threads (watchdog, exporter, report writer) hold one for their life.
class EngineScope {
 public:
  EngineScope() noexcept;
  ~EngineScope();
  EngineScope(const EngineScope&) = delete;
  EngineScope& operator=(const EngineScope&) = delete;

 private:
  ThreadState* saved_;
  uint8_t saved_mode_;
  int saved_errno_;
  int saved_cancel_ = 0;
  ThreadState* light_ = nullptr;  // see EnterCancelScope (tracker.cc)
};

// Cancellation inside the engine (tracker.cc, EnterCancelScope). EnableLightCancelScopes: the
// shim, which interposes pthread_cancel, lets engine scopes skip pthread_setcancelstate until the
// process's first pthread_cancel; false (nothing changed) without membarrier(2). BeforeCancel:
// called by that interposer before the real call; returns once `target` (a pthread_t) is in no
// engine scope that skipped it, and makes every later scope disable cancellation.
bool EnableLightCancelScopes() noexcept;
void BeforeCancel(uintptr_t target) noexcept;

// Whether allocations of the engine's own code on this thread come from the engine's arena
// (core/engine_arena.h): inside the engine, unless a ProgramHeapScope is open.
bool UseEngineArena() noexcept;

// Inside the engine, memory that is handed to the program (or to a library that frees it
// with the program's allocator: the exporter's snapshot, the public API's results) is taken
// from the program's allocator while one of these is open.
class ProgramHeapScope {
 public:
  ProgramHeapScope() noexcept;
  ~ProgramHeapScope();
  ProgramHeapScope(const ProgramHeapScope&) = delete;
  ProgramHeapScope& operator=(const ProgramHeapScope&) = delete;
};

void SetThreadName(const char* name) noexcept;          // also names later reports
// Names another thread, identified by its pthread_t (pthread_setname_np on another thread).
void SetThreadNameOf(uintptr_t pthread_id, const char* name) noexcept;
void OnThreadExit() noexcept;                           // reports thread_exit_holding; frees state
// Thread creation and join, for the "ordered" mark of lock-order cycles (core/lineage.h): the
// creator calls OnThreadCreate before the real create and hands the result to the new thread,
// which calls OnThreadStart before its start routine; a successful join calls OnThreadJoined.
struct ThreadBirth {
  uint32_t creator = 0, creator_tid = 0, clock = 0;  // clock 0: nothing recorded
};
ThreadBirth OnThreadCreate() noexcept;
void OnThreadStart(ThreadBirth birth) noexcept;
// The create of `birth`'s thread succeeded: its pthread_t is `pthread_id`.
void OnThreadCreated(uintptr_t pthread_id, ThreadBirth birth) noexcept;
// Before a join of `pthread_id`: the thread it names (0: unknown). After the join succeeded,
// OnThreadJoined with that value (asked before: once joined, a new thread may reuse the id).
uint32_t ThreadToJoin(uintptr_t pthread_id) noexcept;
void OnThreadJoined(uint32_t joined, uintptr_t pthread_id) noexcept;

// ---- Lock lifetime -----------------------------------------------------------------------

// Declares a lock with an optional name/level (nullptr / kNoLevel when unknown). A lock seen
// without OnCreate is registered at its first event.
void OnCreate(const void* lock, LockClass cls, const char* name, int level,
              bool api_managed = false) noexcept;
// A destroy call on `lock`: reports destroy_held when the calling thread holds it. When
// `destroyed` (the real call succeeded) the lock is forgotten: its edges are removed and a later
// lock at this address starts clean. Call it before the real destroy with destroyed=false, and
// after a successful one with destroyed=true (front-ends without a fallible destroy pass true).
void OnDestroy(ThreadState* ts, const void* lock, Site site, bool destroyed) noexcept;
// A (re)initialisation of `lock`: whatever lived at this address before is forgotten.
void OnInit(const void* lock) noexcept;
// Memory [begin, begin+size) was freed: every lock inside it is destroyed (no report).
void OnRangeFreed(const void* begin, size_t size) noexcept;
// Cheap pre-filter for OnRangeFreed: false when no lock was ever registered in that range's pages.
bool MayHoldLocks(const void* begin, size_t size) noexcept;
void SetLockName(const void* lock, const char* name) noexcept;
void SetLockLevel(const void* lock, int level) noexcept;

// ---- Acquisition -------------------------------------------------------------------------

// The lock was acquired without blocking (a successful try, or an uncontended fast path).
// For blocking calls that succeeded at once, flags has no kTry.
void OnAcquired(ThreadState& ts, const void* lock, LockClass cls, uint32_t flags,
                Site site) noexcept;
// The thread is about to block on `lock` (its fast try failed). Runs the checks that must
// happen before a thread hangs (double_lock, hierarchy, new edges and cycles). Returns a token
// to pass to AfterBlock.
uint64_t BeforeBlock(ThreadState& ts, const void* lock, LockClass cls, uint32_t flags,
                     Site site) noexcept;
// The deadline technique (core/wake.h): after BeforeBlock returned `token`, the front-end should
// wait with this CLOCK_MONOTONIC deadline (ns) when it is nonzero, then, if the deadline passed,
// call OnStillBlocked and wait on without a deadline. 0: just block (e.g. the thread already
// holds the lock: the real call must behave exactly as without lockaudit).
uint64_t BlockCheckAt(ThreadState& ts, uint64_t token) noexcept;
void OnStillBlocked(ThreadState& ts) noexcept;
// The blocking call returned; `acquired` tells whether the lock is now held.
void AfterBlock(ThreadState& ts, const void* lock, LockClass cls, uint32_t flags, Site site,
                uint64_t token, bool acquired) noexcept;
// The thread released `lock` (for rwlocks: whichever mode it held). `flags`: kFromShim for an
// interposed call (then a release of a lock an instrumented type manages is that type's own
// std:: unlock, already reported, and never unlock_not_held).
void OnReleased(ThreadState& ts, const void* lock, Site site, uint32_t flags = 0) noexcept;

// ---- Condition variables -----------------------------------------------------------------

// Before waiting: the mutex is released in the engine's view. False (and nothing recorded)
// when the calling thread does not hold `mutex`: the wait then fails (EPERM for an
// error-checking mutex) or is undefined, and OnCondWaitEnd must not be called for it.
bool OnCondWaitBegin(ThreadState& ts, const void* cond, const void* mutex, Site site,
                     uint32_t flags = 0) noexcept;
// After waiting (woken, timed out or spurious): the mutex is held again.
void OnCondWaitEnd(ThreadState& ts, const void* cond, const void* mutex, LockClass cls,
                   uint32_t flags, Site site) noexcept;
void OnCondSignal(const void* cond, bool broadcast) noexcept;
void OnCondDestroy(const void* cond) noexcept;

// ---- GPU (gpu/cupti) and the hybrid dispatcher -------------------------------------------

// The thread enters a synchronising CUDA call `api` (static string, e.g. "cudaStreamSynchronize").
// When it holds audited locks: finding gpu_sync_under_lock (once per api and innermost lock).
void OnGpuSyncBegin(ThreadState& ts, const char* api, Site site) noexcept;
// The call returned after `duration_ns`: lockaudit_gpu_sync_seconds{api,under_lock}; when the
// thread holds locks, the duration is added to each held lock's GPU-sync hold attribution.
void OnGpuSyncEnd(ThreadState& ts, const char* api, uint64_t duration_ns) noexcept;
// A finished GPU activity record (kernel or memcpy), for lockaudit_gpu_kernel_seconds{kernel}.
// `name` is copied. Callable from any thread, also engine-owned ones (CUPTI buffer callbacks).
void OnGpuActivity(const char* name, uint64_t duration_ns) noexcept;
// A dispatch decision of gpu/dispatch: lockaudit_dispatch_total{target}.
void OnDispatch(bool to_gpu) noexcept;

// ---- Blocking calls under a lock (blocking_under_lock) --------------------------------------

// The thread is about to make a blocking call (`call`: a static name, "nanosleep", "read", ...)
// while it holds audited locks: the front-end tests ts.held_count first, so a thread holding
// nothing pays that one test. Returns the token for OnBlockingCallEnd (0: nothing to record).
uint64_t OnBlockingCallBegin(ThreadState& ts) noexcept;
// The call returned: lockaudit_blocking_under_lock_seconds{call} gets its duration, and the first
// time for this call site and innermost held lock, a blocking_under_lock finding with the call's
// stack, the lock's acquisition stack and the time blocked. `site`: the call's.
void OnBlockingCallEnd(ThreadState& ts, const char* call, Site site, uint64_t token) noexcept;

// ---- Non-blocking contexts -----------------------------------------------------------------
// Nested: the calling thread must not block until the matching end (blocking_in_nonblocking).
void NonblockingBegin() noexcept;
void NonblockingEnd() noexcept;
// The thread is about to wait on a futex word (std::future, std::atomic::wait, semaphores,
// latches: libstdc++ waits through syscall(SYS_futex)). Only non-blocking contexts care.
void OnFutexWait(ThreadState& ts, const void* addr, Site site) noexcept;

// ---- Fork --------------------------------------------------------------------------------
void ForkPrepare() noexcept;
void ForkParent() noexcept;
void ForkChild() noexcept;  // the child keeps only the forking thread's state

// ---- Whole-engine ------------------------------------------------------------------------
// Initialises options and sinks if not done yet; safe to call repeatedly.
void EnsureInitialized() noexcept;
bool Disabled() noexcept;  // LOCKAUDIT_DISABLE=1
// The host process is initialised (called from the shim's and liblockaudit's constructors):
// from now on the engine may start its threads (symbolizer, watchdog). `lazy` (the shim): not
// yet, only when the program needs them (NeedBackground), so that a single-threaded program
// keeps glibc's single-thread lock path; until then the report's edge lines are queued.
void StartBackground(bool lazy = false) noexcept;
// The program starts its second thread or is about to block: the engine's threads start now
// (once; a no-op before StartBackground and after they started).
void NeedBackground() noexcept;
// True inside an EngineScope (or an engine-owned thread). The shim makes threads created from
// there engine-owned for life (BecomeEngineThread), e.g. an exporter's server threads.
bool InsideEngine() noexcept;
void BecomeEngineThread() noexcept;
// Keeps this engine from ever starting (another engine instance in the process owns auditing:
// liblockaudit.so when the LD_PRELOAD shim is loaded). No effect once initialised.
void StandDown() noexcept;
// Writes one informational line (ending in '\n') to the text log (LOCKAUDIT_LOG: stderr, a file,
// or nowhere when off). Warnings do not come here: they always reach stderr (raw_log.h).
void LogNote(const char* line) noexcept;
// Sets LOCKAUDIT_REPORT_APPEND=1 in this process's environment, so that the processes it starts
// append to its report instead of emptying it. Only where setenv is safe: the shim's constructor
// (no other thread yet). No effect without a report, or with %p in its path (a file per process).
void ExportReportAppend() noexcept;
// Writes the summary and applies LOCKAUDIT_EXITCODE; returns the exit code to force, or -1.
int Finish() noexcept;

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_PROVIDER_H_
