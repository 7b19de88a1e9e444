// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html) for
// the engine's own mutexes: a member says which EngineMutex guards it, a function which it needs
// held or must not hold. Checked by the static-check gate (tests/clang_tidy.sh passes
// -Wthread-safety; a violation is a warning there, and the gate fails on any warning). Empty
// under GCC, which builds the project.
#ifndef LOCKAUDIT_CORE_THREAD_ANNOTATIONS_H_
#define LOCKAUDIT_CORE_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define LOCKAUDIT_TSA(x) __attribute__((x))
#else
#define LOCKAUDIT_TSA(x)
#endif

#define LOCKAUDIT_CAPABILITY(name) LOCKAUDIT_TSA(capability(name))
#define LOCKAUDIT_SCOPED_CAPABILITY LOCKAUDIT_TSA(scoped_lockable)
#define LOCKAUDIT_GUARDED_BY(mu) LOCKAUDIT_TSA(guarded_by(mu))
#define LOCKAUDIT_PT_GUARDED_BY(mu) LOCKAUDIT_TSA(pt_guarded_by(mu))
#define LOCKAUDIT_REQUIRES(...) LOCKAUDIT_TSA(requires_capability(__VA_ARGS__))
#define LOCKAUDIT_EXCLUDES(...) LOCKAUDIT_TSA(locks_excluded(__VA_ARGS__))
#define LOCKAUDIT_ACQUIRE(...) LOCKAUDIT_TSA(acquire_capability(__VA_ARGS__))
#define LOCKAUDIT_RELEASE(...) LOCKAUDIT_TSA(release_capability(__VA_ARGS__))
#define LOCKAUDIT_TRY_ACQUIRE(...) LOCKAUDIT_TSA(try_acquire_capability(__VA_ARGS__))
#define LOCKAUDIT_RETURN_CAPABILITY(x) LOCKAUDIT_TSA(lock_returned(x))
// For the few functions that take or release locks in a way the analysis cannot follow (the
// fork handlers take a list of mutexes in one function and release it in another).
#define LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS LOCKAUDIT_TSA(no_thread_safety_analysis)

#endif  // LOCKAUDIT_CORE_THREAD_ANNOTATIONS_H_
