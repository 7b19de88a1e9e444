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

/* Called once per unsuppressed finding with its JSON Lines object (docs/report.md), from the
 * thread that found it. Pass NULL to remove. The handler must not block on audited locks. */
typedef void (*lockaudit_finding_handler)(const char* json, void* arg);
LOCKAUDIT_API void lockaudit_set_finding_handler(lockaudit_finding_handler handler, void* arg);

/* Non-blocking context: between begin and end (nestable) the calling thread must
 * not block on a contended lock, a condition variable or a futex wait (std::future,
 * std::atomic::wait, ...); if it does, finding blocking_in_nonblocking. For event-loop and
 * executor threads; C++: lockaudit::nonblocking_scope. */
LOCKAUDIT_API void lockaudit_nonblocking_begin(void);
LOCKAUDIT_API void lockaudit_nonblocking_end(void);

/* Wake latency of condition variable `cond` (signal/broadcast -> the woken waiter running):
 * stores its q-quantile (0..1) in seconds, estimated from the histogram behind
 * lockaudit_cond_wake_latency_seconds, and returns the number of wakes measured (0: none). */
LOCKAUDIT_API int lockaudit_cond_wake_quantile(const void* cond, double q, double* seconds);

/* ---- Channels: a queue of your own, audited (docs/channels.md) ---------------------------
 * Annotate each operation of a bounded (or unbounded) queue between threads, and lockaudit
 * reports send_on_closed, channel_stall, channel_leak and deadlocks through the queue, and
 * exports its depth, waiting threads and wait times (lockaudit_channel_*). C++:
 * <lockaudit/channel.h> is a ready-made channel. The engine counts the items itself (sends minus
 * receives), so annotate every successful send and receive. */
typedef struct lockaudit_channel lockaudit_channel;
/* Flags for the _begin calls. */
#define LOCKAUDIT_CHANNEL_TIMED 1 /* the operation gives up after a timeout: never a deadlock */
#define LOCKAUDIT_CHANNEL_TRY 2   /* the operation never waits */
/* A queue of at most `capacity` items (0: unbounded, a send never waits), named `name` in
 * reports and metrics (NULL: by where it was created). NULL when lockaudit is not active:
 * every channel function accepts NULL and does nothing. */
LOCKAUDIT_API lockaudit_channel* lockaudit_channel_create(const char* name, unsigned long capacity);
/* Before a send: returns 0, or -1 (errno EPIPE) when the channel was closed: the send must fail
 * (finding send_on_closed, once per channel and call site), and send_end is not called. */
LOCKAUDIT_API int lockaudit_channel_send_begin(lockaudit_channel* ch, int flags);
/* After the send: `sent` 1 when the item went in, 0 when it gave up (timeout, closed meanwhile). */
LOCKAUDIT_API void lockaudit_channel_send_end(lockaudit_channel* ch, int sent);
LOCKAUDIT_API void lockaudit_channel_recv_begin(lockaudit_channel* ch, int flags);
/* After the receive: `received` 1 when an item came out. */
LOCKAUDIT_API void lockaudit_channel_recv_end(lockaudit_channel* ch, int received);
LOCKAUDIT_API void lockaudit_channel_close(lockaudit_channel* ch);
/* The queue goes away: channel_leak if items are left in it or threads wait on it. */
LOCKAUDIT_API void lockaudit_channel_destroy(lockaudit_channel* ch);

/* Number of unsuppressed findings so far. */
LOCKAUDIT_API unsigned long lockaudit_finding_count(void);

/* ---- GPU events (gpu/cupti, gpu/dispatch) -------------------------------------------------
 * The door through which liblockaudit_cupti.so and the hybrid dispatcher reach whichever engine
 * is active in the process (the shim's when it is preloaded, else liblockaudit.so's): they look
 * these symbols up at run time instead of linking an engine of their own. Each is a no-op when
 * the calling thread is not audited (engine disabled, engine-owned thread). */

/* The calling thread enters the synchronising CUDA call `api` (a string that lives for the whole
 * run, e.g. "cudaStreamSynchronize"). Reports gpu_sync_under_lock when the thread holds locks. */
LOCKAUDIT_API void lockaudit_gpu_sync_begin(const char* api);
/* The call `api` returned after `duration_ns` (host time spent inside it): recorded in
 * lockaudit_gpu_sync_seconds{api,under_lock} and added to the held locks' hold attribution. */
LOCKAUDIT_API void lockaudit_gpu_sync_end(const char* api, unsigned long long duration_ns);
/* A finished kernel or memory copy `name` (copied) that ran `duration_ns` on the device:
 * lockaudit_gpu_kernel_seconds{kernel}. Callable from any thread. */
LOCKAUDIT_API void lockaudit_gpu_activity(const char* name, unsigned long long duration_ns);
/* A dispatch decision (to_gpu: 1 GPU, 0 CPU): lockaudit_dispatch_total{target}. */
LOCKAUDIT_API void lockaudit_dispatch(int to_gpu);

#ifdef __cplusplus
}
#endif

/* ---- Prometheus metrics (docs/metrics.md) -----------------------------------------------
 * Serves the engine's statistics on http://ADDRESS/metrics: ADDRESS is "[HOST:]PORT", HOST an IP
 * address (default 127.0.0.1: lock names describe the program's internals), PORT 0 picks a free
 * port. The exporter (liblockaudit_prometheus.so, found beside liblockaudit.so) runs its own two
 * HTTP threads, which are never audited, and reads the statistics only when scraped.
 * Returns the port served on, or -1 after one warning line on stderr (port in use, bad address,
 * exporter library missing, already serving); the program runs on either way.
 * LOCKAUDIT_PROMETHEUS=ADDRESS does the same at start-up without a code change. */
#ifdef __cplusplus
extern "C" {
#endif
LOCKAUDIT_API int lockaudit_serve_metrics(const char* address);
#ifdef __cplusplus
}
namespace lockaudit {
LOCKAUDIT_API int serve_metrics(const char* address = "127.0.0.1:9464");
}  // namespace lockaudit
#endif

#endif /* LOCKAUDIT_LOCKAUDIT_H_ */
