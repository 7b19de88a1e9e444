// core/engine_thread: the threads the engine owns (the watchdog, the symbolizer's helper, an
// exporter's HTTP threads) must be invisible to the program they run in.
//
// - Signals: an engine thread blocks every asynchronous signal, so that a signal sent to the
//   process (SIGTERM for a server that waits for it with sigwait() in one thread, SIGINT, SIGHUP,
//   timers) is delivered to one of the program's own threads, as it would be without lockaudit.
// - Lifetime: a program whose main thread calls pthread_exit() ends when its last thread ends;
//   the engine's threads must not keep it alive. OnlyEngineThreadsLeft() tells the watchdog.
//
// Thread-safety: all functions may be called from any thread. Cost: a few syscalls per engine
// thread start; OnlyEngineThreadsLeft() reads one /proc file, and lists the tasks only after
// the main thread has ended.
#ifndef LOCKAUDIT_CORE_ENGINE_THREAD_H_
#define LOCKAUDIT_CORE_ENGINE_THREAD_H_

#include <pthread.h>
#include <signal.h>

#include <cstdint>

namespace lockaudit::core {

// Blocks every asynchronous signal in the calling thread (synchronous ones, SIGSEGV, SIGBUS,
// SIGFPE, SIGILL, SIGTRAP, SIGSYS, stay deliverable); the previous mask goes to *old.
void BlockAsyncSignals(sigset_t* old) noexcept;
void RestoreSignals(const sigset_t* old) noexcept;

// pthread_create through `create` (the real function under the shim) with every asynchronous
// signal blocked, so that the new thread starts with them blocked; the caller's mask is kept.
int CreateWithSignalsBlocked(int (*create)(pthread_t*, const pthread_attr_t*, void* (*)(void*),
                                           void*),
                             pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
                             void* arg) noexcept;

// Records the calling thread as engine-owned (its kernel tid), for OnlyEngineThreadsLeft().
void RegisterEngineTask() noexcept;

// True when the process's main thread has ended (pthread_exit from main) and every thread still
// alive is engine-owned: the process would have ended without lockaudit.
bool OnlyEngineThreadsLeft() noexcept;

// After fork in the child: the parent's engine threads do not exist there.
void ForgetEngineTasksAfterFork() noexcept;

}  // namespace lockaudit::core

#endif  // LOCKAUDIT_CORE_ENGINE_THREAD_H_

namespace lockaudit::core {

// The calling thread's stack, [lo, hi), for telling locks on it from others, without touching
// the heap: a thread that first meets the engine inside its allocator's lock (jemalloc's
// mutexes) or in a signal handler must not call malloc (pthread_getattr_np does).
//
// NoteThreadStackNow() asks pthread_getattr_np: call it only where malloc is safe (the start of
// a thread the shim created, the shim's constructor). ThreadStackBounds() returns what was noted,
// else finds the mapping that holds the stack pointer in /proc/self/maps (raw reads), once per
// thread; false when neither works.
void NoteThreadStackNow() noexcept;
// The bounds as the caller knows them (the shim's thread trampoline: its own frame and the
// stack size it created the thread with): no call at all. pthread_getattr_np would malloc (its
// CPU set), and a thread's first malloc makes glibc reserve a 64 MiB arena for it: 200 threads
// that never allocate would reserve 12.8 GB of address space (ulimit -v fails them).
void NoteThreadStack(uintptr_t lo, uintptr_t hi) noexcept;
bool ThreadStackBounds(uintptr_t* lo, uintptr_t* hi) noexcept;

}  // namespace lockaudit::core
