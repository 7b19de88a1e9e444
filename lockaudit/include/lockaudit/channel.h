// <lockaudit/channel.h>: an audited bounded channel (multi-producer, multi-consumer, close()).
//
//   lockaudit::channel<Job> jobs(64, "jobs");
//   if (!jobs.send(std::move(job))) { /* closed: the job was not queued, `job` is intact */ }
//   while (std::optional<Job> j = jobs.recv()) run(*j);   // nullopt once closed and drained
//   jobs.close();
//
// Semantics: send() waits while the channel is full and fails (returns false, leaving an rvalue
// argument unmoved) once it is closed; recv() waits while it is empty and returns nullopt once it
// is closed and every item is taken. close() wakes every waiter; items already in the channel are
// still received. try_ and _for forms do not wait / wait at most the given time. The destructor
// destroys items still inside.
//
// What lockaudit reports about it (docs/channels.md): send_on_closed (a send after close(), once
// per channel and call site), channel_stall (a send waiting on a full channel or a receive on an
// empty one past LOCKAUDIT_STALL_MS, with the other side's state), channel_leak (destroyed, or
// still open at exit, with items never received or threads still waiting), and channel waits in
// the wait-for graph: a cycle through locks and channels is reported as a `deadlock`. Metrics:
// lockaudit_channel_* (docs/metrics.md).
//
// The channel's own lock is a futex the shim never sees (it is not one of the program's locks).
// It works as a channel whether lockaudit is active or not (LOCKAUDIT_DISABLE=1: no reports).
// Thread-safety: every member may be called from any thread at once, except the destructor.
// Cost: an operation that does not wait is one futex-word lock/unlock, one thread-local compare
// and two atomic adds; a wait adds a clock read at each end and, once past half the stall
// threshold, one stack capture.
#ifndef LOCKAUDIT_CHANNEL_H_
#define LOCKAUDIT_CHANNEL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <utility>

#ifndef LOCKAUDIT_PUBLIC
#define LOCKAUDIT_PUBLIC __attribute__((visibility("default")))
#endif

namespace lockaudit {

namespace detail {

struct channel_sync;  // liblockaudit: the channel's lock, counts, waits and audit record

inline constexpr long kChannelClosed = -1;
inline constexpr long kChannelTimeout = -2;  // full (send) or empty (receive) when the time ran out

// Out of line: each records its caller's site. timeout_ns < 0: wait without a deadline; 0: do not
// wait. A slot >= 0 is returned with the channel's lock held; commit or abort releases it.
LOCKAUDIT_PUBLIC channel_sync* channel_open(const char* name, size_t capacity);
LOCKAUDIT_PUBLIC long channel_send_slot(channel_sync* c, long long timeout_ns) noexcept;
LOCKAUDIT_PUBLIC void channel_send_commit(channel_sync* c) noexcept;
LOCKAUDIT_PUBLIC long channel_recv_slot(channel_sync* c, long long timeout_ns) noexcept;
LOCKAUDIT_PUBLIC void channel_recv_commit(channel_sync* c) noexcept;
LOCKAUDIT_PUBLIC void channel_abort(channel_sync* c) noexcept;  // the item's copy or move threw
LOCKAUDIT_PUBLIC void channel_close(channel_sync* c) noexcept;
LOCKAUDIT_PUBLIC size_t channel_size(const channel_sync* c) noexcept;
LOCKAUDIT_PUBLIC bool channel_is_closed(const channel_sync* c) noexcept;
// For the destructor: where the items still inside start and how many there are.
LOCKAUDIT_PUBLIC void channel_contents(const channel_sync* c, size_t* head, size_t* count) noexcept;
LOCKAUDIT_PUBLIC void channel_free(channel_sync* c, size_t items_left) noexcept;

template <class Rep, class Period>
long long to_ns(std::chrono::duration<Rep, Period> d) {
  // In floating point first: hours::max() in nanoseconds overflows. Past ~292 years: that.
  const double ns = std::chrono::duration<double, std::nano>(d).count();
  if (!(ns >= 1)) return 1;  // a positive timeout, never "forever" (also for NaN)
  if (ns >= 9.2e18) return 9200000000000000000LL;
  return static_cast<long long>(ns);
}

}  // namespace detail

template <class T>
class channel {
 public:
  // `capacity` items at most (0 is taken as 1); `name` appears in reports and metrics (null:
  // named by where it was created, "channel@<function> (<file>:<line>)").
  explicit channel(size_t capacity, const char* name = nullptr)
      : capacity_(capacity == 0 ? 1 : capacity),
        slots_(static_cast<T*>(::operator new(sizeof(T) * capacity_, std::align_val_t(alignof(T))))) {
    try {
      sync_ = detail::channel_open(name, capacity_);
    } catch (...) {
      ::operator delete(slots_, std::align_val_t(alignof(T)));
      throw;
    }
  }
  ~channel() {
    size_t head = 0, count = 0;
    detail::channel_contents(sync_, &head, &count);
    for (size_t i = 0; i < count; ++i) slots_[(head + i) % capacity_].~T();
    detail::channel_free(sync_, count);
    ::operator delete(slots_, std::align_val_t(alignof(T)));
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // Waits while full. False: the channel is closed and `v` was not queued.
  [[nodiscard]] bool send(const T& v) { return put(v, -1); }
  [[nodiscard]] bool send(T&& v) { return put(std::move(v), -1); }
  // False when full or closed (closed() tells which); does not wait.
  [[nodiscard]] bool try_send(const T& v) { return put(v, 0); }
  [[nodiscard]] bool try_send(T&& v) { return put(std::move(v), 0); }
  template <class Rep, class Period>
  [[nodiscard]] bool send_for(T&& v, std::chrono::duration<Rep, Period> d) {
    return put(std::move(v), detail::to_ns(d));
  }
  template <class Rep, class Period>
  [[nodiscard]] bool send_for(const T& v, std::chrono::duration<Rep, Period> d) {
    return put(v, detail::to_ns(d));
  }

  // Waits while empty and open. nullopt: closed and drained.
  std::optional<T> recv() { return take(-1); }
  std::optional<T> try_recv() { return take(0); }  // nullopt when empty (or closed and drained)
  template <class Rep, class Period>
  std::optional<T> recv_for(std::chrono::duration<Rep, Period> d) {
    return take(detail::to_ns(d));
  }

  // No more sends; waiting senders fail, waiting receivers drain what is left. Idempotent.
  void close() noexcept { detail::channel_close(sync_); }
  bool closed() const noexcept { return detail::channel_is_closed(sync_); }
  size_t size() const noexcept { return detail::channel_size(sync_); }
  size_t capacity() const noexcept { return capacity_; }

 private:
  template <class U>
  bool put(U&& v, long long timeout_ns) {
    const long slot = detail::channel_send_slot(sync_, timeout_ns);
    if (slot < 0) return false;
    try {
      ::new (static_cast<void*>(slots_ + slot)) T(std::forward<U>(v));
    } catch (...) {
      detail::channel_abort(sync_);
      throw;
    }
    detail::channel_send_commit(sync_);
    return true;
  }
  std::optional<T> take(long long timeout_ns) {
    const long slot = detail::channel_recv_slot(sync_, timeout_ns);
    if (slot < 0) return std::nullopt;
    std::optional<T> out;
    try {
      out.emplace(std::move_if_noexcept(slots_[slot]));  // a throwing move: copied instead
    } catch (...) {
      detail::channel_abort(sync_);  // the item stays in the channel, intact
      throw;
    }
    slots_[slot].~T();
    detail::channel_recv_commit(sync_);
    return out;
  }

  size_t capacity_;
  T* slots_;
  detail::channel_sync* sync_ = nullptr;
};

}  // namespace lockaudit

#endif  // LOCKAUDIT_CHANNEL_H_
