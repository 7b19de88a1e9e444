// core/channel: channels (bounded queues between threads) as audited objects: send_on_closed,
// channel_stall, channel_leak, their metrics, and channel waits in the wait-for graph.
//
// A channel is a record the engine owns (never freed: a destroyed one goes to a free list and
// is reused, so the watchdog's racy reads never touch unmapped memory). Two front-ends feed it:
// lockaudit::channel<T> (lockaudit/channel.h), which knows exactly when it waits, and the C API
// for a queue of one's own (lockaudit_channel_send_begin/end, ...), where the engine infers a wait
// from its own count of items (full on a send, empty on a receive).
//
// What the engine keeps per channel: capacity (0: unbounded), depth (items sent minus items
// received), closed, how many threads wait to send / to receive, totals and wait histograms, and
// the threads that ever sent and ever received on it (their incarnations, up to kMaxPeers per
// side; past that the side is "many" and unknown).
//
// How a channel wait joins the wait-for graph (core/wake): a thread that waits publishes "waiting
// to send on C since t" in its own ThreadState (chan_seq odd meanwhile, like wait_seq for locks).
// The watchdog takes the threads that could end the wait as its "holders": a sender waiting on a
// full channel can be freed only by a receiver, so its holders are the live threads that have
// received on C; a receiver's are those that have sent. It is stuck when every one of them is
// stuck (the same fixed point as for locks), so a cycle through locks and channels is reported as
// a `deadlock` like any other. Conservative on purpose: a side with no live peer, a side of more
// than kMaxPeers threads, a timed wait or a closed channel is never part of a deadlock (it is a
// channel_stall once past the threshold). A thread that has not used the channel yet is not
// counted as a peer: if only such a thread could end the wait, the report says every known peer
// is stuck, which is what it sees.
//
// Thread-safety: every function may be called from any audited thread; the per-channel counters
// are atomics, the peer lists are claimed by CAS. Findings are published from the calling
// thread (send_on_closed, channel_leak at destroy), the watchdog (channel_stall, deadlock) or the
// exit path. Cost: an operation that does not wait pays one thread-local compare (its peer is
// known) and one atomic add; a wait pays a clock read at each end and, once its first deadline
// passed, one stack capture.
#ifndef LOCKAUDIT_CORE_CHANNEL_H_
#define LOCKAUDIT_CORE_CHANNEL_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "provider.h"
#include "report.h"
#include "stats.h"
#include "thread_state.h"

namespace lockaudit::core::channel {

enum Dir : uint32_t { kSend = 0, kRecv = 1 };
inline constexpr uint32_t kMaxPeers = 32;

struct Channel;  // engine-owned (channel.cc)

// A new channel, named `name` (null or empty: "channel@<function> (<file>:<line>)" of `site`),
// holding at most `capacity` items (0: unbounded, a send never waits). Null when the engine is
// not running (disabled, not initialised, finished); every function below accepts null.
Channel* Create(const char* name, uint64_t capacity, Site site) noexcept;
// The calling thread uses `ch` to send (kSend) or receive: it becomes one of its peers.
void Touch(ThreadState& ts, Channel* ch, Dir dir) noexcept;
// The engine's view, for the C API: a send must fail (closed) / would wait (full) / a receive
// would wait (empty and open).
bool IsClosed(const Channel* ch) noexcept;
bool WouldWait(const Channel* ch, Dir dir) noexcept;
// A send on a closed channel: the caller's send fails. Finding send_on_closed, once per channel
// and call site, with the sender's stack. `waited`: the send was waiting (full) when it closed.
void SendOnClosed(ThreadState& ts, Channel* ch, Site site, bool waited = false) noexcept;
// The thread starts waiting (it will block: full on a send, empty on a receive); `timed`: the wait
// has a deadline of its own. StillWaiting: its first deadline (wake::FirstCheckDelayNs) passed;
// it publishes its stack for the watchdog. WaitEnd: it stopped waiting (any reason).
void WaitBegin(ThreadState& ts, Channel* ch, Dir dir, Site site, bool timed) noexcept;
void StillWaiting(ThreadState& ts) noexcept;
void WaitEnd(ThreadState& ts, Channel* ch) noexcept;
// An item went in (kSend) or came out (kRecv).
void Moved(Channel* ch, Dir dir) noexcept;
void Close(Channel* ch) noexcept;
// The channel goes away: channel_leak when items are left in it or threads still wait on it.
// `items_left`: the front-end's own count when it has one (< 0: use the engine's).
void Destroy(ThreadState* ts, Channel* ch, Site site, int64_t items_left) noexcept;
// At exit: channel_leak for every live channel with items left or threads waiting.
void ReportAtExit() noexcept;

// ---- For the watchdog (core/wake) ---------------------------------------------------------
struct View {
  uint64_t generation = 0;
  std::string name;
  uint64_t capacity = 0;
  int64_t depth = 0;
  bool closed = false;
  uint32_t waiting[2] = {0, 0};     // threads waiting to send, to receive
  uint64_t peers[2][kMaxPeers] = {};  // incarnations that sent, received (0: empty)
  bool many[2] = {false, false};    // more peers than kMaxPeers on that side
};
// A racy snapshot of `ch` as a wait published it (`generation`: ThreadState::chan_gen); false
// when the channel is gone, or destroyed and its record reused since.
bool Peek(const void* ch, uint64_t generation, View* out) noexcept;
// The finding's `channels` entry and a phrase for messages: "'jobs' (full: 4 of 4 items, ...)".
std::string StateText(const View& v);
ReportChannel ToReport(const View& v);
// The watchdog found a wait past the threshold that is not part of a deadlock.
void ReportStall(const View& v, const void* ch, Dir dir, uint32_t tid, const char* thread_name,
                 uint64_t waited_ns, uint64_t threshold_ns, StackId stack,
                 const std::string& peers_text) noexcept;

// ---- Statistics (core/stats) ---------------------------------------------------------------
void Collect(std::vector<stats::ChannelRow>* out);
// For the exit summary: channels created during the run, items sent through them.
void Totals(uint64_t* created, uint64_t* items);
void ResetAfterFork() noexcept;

}  // namespace lockaudit::core::channel

#endif  // LOCKAUDIT_CORE_CHANNEL_H_
