/* <lockaudit/lockaudit.h>: the C API of lockaudit.
 *
 * Names and hierarchy levels for any lock (pthread, C11, custom), annotations that let a
 * custom lock (a spinlock of your own, a futex word) take part in lock-order checking, and a
 * finding handler. Every function is thread-safe, never blocks the caller for long, and is a
 * no-op when the engine is disabled (LOCKAUDIT_DISABLE=1).
 */
#ifndef LOCKAUDIT_LOCKAUDIT_H_
#define LOCKAUDIT_LOCKAUDIT_H_

#ifdef __cplusplus
extern "C" {
#endif

#define LOCKAUDIT_API __attribute__((visibility("default")))

/* Flags for lockaudit_acquire(). */
#define LOCKAUDIT_ACQUIRE_EXCLUSIVE 0
#define LOCKAUDIT_ACQUIRE_SHARED 1 /* a reader's acquisition */
#define LOCKAUDIT_ACQUIRE_TRY 2    /* a successful try: adds no lock-order edge into the lock */

/* Sentinel for "no hierarchy level". */
#define LOCKAUDIT_NO_LEVEL (-2147483647 - 1)

/* Gives `lock` a name used in every report (overrides symbol and lock-site names). */
LOCKAUDIT_API void lockaudit_set_name(void* lock, const char* name);
/* Gives `lock` a hierarchy level: it may only be acquired while every held lock with a level
 * has a strictly lower level. */
LOCKAUDIT_API void lockaudit_set_level(void* lock, int level);

/* Annotations for custom locks: call lockaudit_acquire() right after the lock is taken and
 * lockaudit_release() right before it is released; lockaudit_destroy() when its memory goes. */
LOCKAUDIT_API void lockaudit_acquire(void* lock, int flags);
LOCKAUDIT_API void lockaudit_release(void* lock);
LOCKAUDIT_API void lockaudit_destroy(void* lock);

/* Called once per unsuppressed finding with its JSON Lines object (DESIGN.md §5), from the
 * thread that found it. Pass NULL to remove. The handler must not block on audited locks. */
typedef void (*lockaudit_finding_handler)(const char* json, void* arg);
LOCKAUDIT_API void lockaudit_set_finding_handler(lockaudit_finding_handler handler, void* arg);

/* Number of unsuppressed findings so far. */
LOCKAUDIT_API unsigned long lockaudit_finding_count(void);

#ifdef __cplusplus
}
#endif

#endif /* LOCKAUDIT_LOCKAUDIT_H_ */
