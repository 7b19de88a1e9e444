// lockaudit::channel<T>'s out-of-line part and the C channel API: the channel's lock and waits
// (a futex word, never a pthread object, so the shim does not see them as program locks) and the
// calls into core/channel that audit it. Built into liblockaudit.so and the shim alike (one
// engine per process: under the shim these symbols bind to the shim's copy).
#include <errno.h>
#include <linux/futex.h>
#include <time.h>

#include <atomic>
#include <climits>
#include <cstdint>

#include "channel.h"
#include "engine_mutex.h"
#include "lockaudit/channel.h"
#include "lockaudit/lockaudit.h"
#include "provider.h"
#include "wake.h"

namespace lockaudit::detail {
namespace ch_ = ::lockaudit::core::channel;
namespace core_ = ::lockaudit::core;

struct channel_sync {
  mutable core_::EngineMutex mu;
  // Futex words, bumped under `mu` whenever room appears / an item or close() arrives.
  std::atomic<uint32_t> not_full{0}, not_empty{0};
  size_t capacity = 1, head = 0, count = 0;
  bool closed = false;
  uint32_t send_waiters = 0, recv_waiters = 0;  // under mu
  ch_::Channel* audit = nullptr;               // null when lockaudit is not active
};

namespace {

uint64_t Now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

void FutexWaitUntil(std::atomic<uint32_t>* word, uint32_t seen, uint64_t until_ns) {
  if (until_ns == UINT64_MAX) {
    core_::RawFutex(reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen);
    return;
  }
  const uint64_t now = Now();
  if (now >= until_ns) return;
  const uint64_t rel = until_ns - now;
  timespec d{static_cast<time_t>(rel / 1000000000ull), static_cast<long>(rel % 1000000000ull)};
  core_::RawFutex(reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen, &d);
}

// Under mu: the state behind `word` changed; wake `n` of its waiters (a waiter that read the word
// before the bump does not sleep: its FUTEX_WAIT sees another value).
void Signal(std::atomic<uint32_t>* word, int n) {
  word->fetch_add(1, std::memory_order_release);
  core_::RawFutex(reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, static_cast<uint32_t>(n));
}

core_::ThreadState* Audited(const channel_sync* c) {
  return c->audit != nullptr ? core_::ThisThread() : nullptr;
}

// Waits (mu held on entry and on return) while `blocked()` holds, the channel is open and the
// deadline has not passed. `dir` is the side waiting. The wait is published to the engine.
template <class Blocked>
void WaitWhile(channel_sync* c, ch_::Dir dir, long long timeout_ns, core_::Site site,
               Blocked blocked) LOCKAUDIT_REQUIRES(c->mu) {
  core_::ThreadState* ts = Audited(c);
  const uint64_t start = Now();
  const uint64_t deadline = timeout_ns > 0 ? start + static_cast<uint64_t>(timeout_ns) : UINT64_MAX;
  uint64_t check_at = ts != nullptr ? start + core_::wake::FirstCheckDelayNs() : UINT64_MAX;
  if (ts != nullptr) ch_::WaitBegin(*ts, c->audit, dir, site, timeout_ns > 0);
  std::atomic<uint32_t>* word = dir == ch_::kSend ? &c->not_full : &c->not_empty;
  uint32_t* waiters = dir == ch_::kSend ? &c->send_waiters : &c->recv_waiters;
  while (blocked() && !c->closed && Now() < deadline) {
    const uint32_t seen = word->load(std::memory_order_acquire);
    ++*waiters;
    c->mu.unlock();
    FutexWaitUntil(word, seen, deadline < check_at ? deadline : check_at);
    if (check_at != UINT64_MAX && Now() >= check_at) {
      ch_::StillWaiting(*ts);  // the watchdog may need this stack
      check_at = UINT64_MAX;
    }
    c->mu.lock();
    --*waiters;
  }
  if (ts != nullptr) ch_::WaitEnd(*ts, c->audit);
}

}  // namespace

channel_sync* channel_open(const char* name, size_t capacity) {
  auto* c = new channel_sync();
  c->capacity = capacity == 0 ? 1 : capacity;
  c->audit = ch_::Create(name, c->capacity, LOCKAUDIT_CALLER_SITE());
  return c;
}

// The slot calls return with c->mu held when they give a slot, and the commit (or abort) call
// releases it: a protocol across calls, outside the thread-safety analysis.
__attribute__((noinline)) long channel_send_slot(channel_sync* c, long long timeout_ns) noexcept
    LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
  const core_::Site site = LOCKAUDIT_CALLER_SITE();
  core_::ThreadState* ts = Audited(c);
  if (ts != nullptr) ch_::Touch(*ts, c->audit, ch_::kSend);
  c->mu.lock();
  const bool waited = !c->closed && c->count == c->capacity && timeout_ns != 0;
  if (waited) WaitWhile(c, ch_::kSend, timeout_ns, site, [c] { return c->count == c->capacity; });
  if (c->closed) {
    // Reported before the unlock: once the caller's send fails the channel may be destroyed.
    if (ts != nullptr) ch_::SendOnClosed(*ts, c->audit, site, waited);
    c->mu.unlock();
    return kChannelClosed;
  }
  if (c->count == c->capacity) {
    c->mu.unlock();
    return kChannelTimeout;
  }
  return static_cast<long>((c->head + c->count) % c->capacity);
}

// The commits and close() finish every use of `c` before the unlock: a receiver that got the
// last item (or nullopt after close) may destroy the channel as soon as it can take the lock.
void channel_send_commit(channel_sync* c) noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
  ++c->count;
  ch_::Moved(c->audit, ch_::kSend);
  if (c->recv_waiters != 0) Signal(&c->not_empty, 1);
  c->mu.unlock();
}

__attribute__((noinline)) long channel_recv_slot(channel_sync* c, long long timeout_ns) noexcept
    LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
  const core_::Site site = LOCKAUDIT_CALLER_SITE();
  core_::ThreadState* ts = Audited(c);
  if (ts != nullptr) ch_::Touch(*ts, c->audit, ch_::kRecv);
  c->mu.lock();
  if (c->count == 0 && !c->closed && timeout_ns != 0) {
    WaitWhile(c, ch_::kRecv, timeout_ns, site, [c] { return c->count == 0; });
  }
  if (c->count == 0) {
    const bool closed = c->closed;
    c->mu.unlock();
    return closed ? kChannelClosed : kChannelTimeout;
  }
  return static_cast<long>(c->head);
}

void channel_recv_commit(channel_sync* c) noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
  c->head = (c->head + 1) % c->capacity;
  --c->count;
  ch_::Moved(c->audit, ch_::kRecv);
  if (c->send_waiters != 0) Signal(&c->not_full, 1);
  c->mu.unlock();
}

// The item's copy or move threw: nothing changed, but this thread may have been the one woken
// for the item (or the room) it leaves: pass the wake-up on.
void channel_abort(channel_sync* c) noexcept LOCKAUDIT_NO_THREAD_SAFETY_ANALYSIS {
  if (c->count > 0 && c->recv_waiters != 0) Signal(&c->not_empty, 1);
  if (c->count < c->capacity && c->send_waiters != 0) Signal(&c->not_full, 1);
  c->mu.unlock();
}

void channel_close(channel_sync* c) noexcept {
  core_::EngineLock lock(c->mu);
  if (c->closed) return;  // idempotent: nobody waits on a closed channel
  c->closed = true;
  ch_::Close(c->audit);
  Signal(&c->not_full, INT_MAX);
  Signal(&c->not_empty, INT_MAX);
}

size_t channel_size(const channel_sync* c) noexcept {
  core_::EngineLock lock(c->mu);
  return c->count;
}

bool channel_is_closed(const channel_sync* c) noexcept {
  core_::EngineLock lock(c->mu);
  return c->closed;
}

void channel_contents(const channel_sync* c, size_t* head, size_t* count) noexcept {
  core_::EngineLock lock(c->mu);
  *head = c->head;
  *count = c->count;
}

__attribute__((noinline)) void channel_free(channel_sync* c, size_t items_left) noexcept {
  ch_::Destroy(core_::ThisThread(), c->audit, LOCKAUDIT_CALLER_SITE(),
               static_cast<int64_t>(items_left));
  delete c;
}

}  // namespace lockaudit::detail

// ---- The C API: a queue of the program's own ------------------------------------------------

namespace {
namespace ch_ = ::lockaudit::core::channel;
namespace core_ = ::lockaudit::core;

ch_::Channel* Of(lockaudit_channel* ch) { return reinterpret_cast<ch_::Channel*>(ch); }

// The annotation cannot tell when the queue's wait passes its first deadline, so a wait the
// engine expects publishes its stack at once (a thread about to sleep).
void BeginWait(core_::ThreadState& ts, ch_::Channel* c, ch_::Dir dir, core_::Site site, int flags) {
  if ((flags & LOCKAUDIT_CHANNEL_TRY) != 0 || !ch_::WouldWait(c, dir)) return;
  ch_::WaitBegin(ts, c, dir, site, (flags & LOCKAUDIT_CHANNEL_TIMED) != 0);
  ch_::StillWaiting(ts);
}
}  // namespace

extern "C" {

__attribute__((noinline)) lockaudit_channel* lockaudit_channel_create(const char* name,
                                                                      unsigned long capacity) {
  return reinterpret_cast<lockaudit_channel*>(ch_::Create(name, capacity, LOCKAUDIT_CALLER_SITE()));
}

__attribute__((noinline)) int lockaudit_channel_send_begin(lockaudit_channel* ch, int flags) {
  core_::ThreadState* ts = ch != nullptr ? core_::ThisThread() : nullptr;
  if (ts == nullptr) return 0;
  const core_::Site site = LOCKAUDIT_CALLER_SITE();
  ch_::Touch(*ts, Of(ch), ch_::kSend);
  if (ch_::IsClosed(Of(ch))) {
    ch_::SendOnClosed(*ts, Of(ch), site);
    errno = EPIPE;
    return -1;
  }
  BeginWait(*ts, Of(ch), ch_::kSend, site, flags);
  return 0;
}

void lockaudit_channel_send_end(lockaudit_channel* ch, int sent) {
  if (ch == nullptr) return;
  if (core_::ThreadState* ts = core_::ThisThread()) ch_::WaitEnd(*ts, Of(ch));
  if (sent) ch_::Moved(Of(ch), ch_::kSend);
}

__attribute__((noinline)) void lockaudit_channel_recv_begin(lockaudit_channel* ch, int flags) {
  core_::ThreadState* ts = ch != nullptr ? core_::ThisThread() : nullptr;
  if (ts == nullptr) return;
  ch_::Touch(*ts, Of(ch), ch_::kRecv);
  BeginWait(*ts, Of(ch), ch_::kRecv, LOCKAUDIT_CALLER_SITE(), flags);
}

void lockaudit_channel_recv_end(lockaudit_channel* ch, int received) {
  if (ch == nullptr) return;
  if (core_::ThreadState* ts = core_::ThisThread()) ch_::WaitEnd(*ts, Of(ch));
  if (received) ch_::Moved(Of(ch), ch_::kRecv);
}

void lockaudit_channel_close(lockaudit_channel* ch) { ch_::Close(Of(ch)); }

__attribute__((noinline)) void lockaudit_channel_destroy(lockaudit_channel* ch) {
  ch_::Destroy(core_::ThisThread(), Of(ch), LOCKAUDIT_CALLER_SITE(), -1);
}

}  // extern "C"
