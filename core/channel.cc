// core/channel: channel records, their findings and statistics. See channel.h.
#include "channel.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "config_file.h"
#include "engine_mutex.h"
#include "hash.h"
#include "report.h"
#include "stacks.h"
#include "tracker.h"
#include "tracker_internal.h"
#include "wake.h"

namespace lockaudit::core::channel {

struct AtomicHist {
  std::atomic<uint64_t> counts[stats::kBuckets + 1];
  std::atomic<uint64_t> sum_ns;
  void Clear() {
    for (auto& c : counts) c.store(0, std::memory_order_relaxed);
    sum_ns.store(0, std::memory_order_relaxed);
  }
  void Observe(uint64_t ns) {
    counts[stats::BucketOf(ns)].fetch_add(1, std::memory_order_relaxed);
    sum_ns.fetch_add(ns, std::memory_order_relaxed);
  }
  void ReadInto(stats::Histogram* h) const {
    for (int i = 0; i <= stats::kBuckets; ++i) h->counts[i] += counts[i].load(std::memory_order_relaxed);
    h->sum_ns += sum_ns.load(std::memory_order_relaxed);
  }
};

struct Channel {
  // Odd while the channel lives; bumped at creation and at destruction, so that a thread's cached
  // (record, generation) never matches a reused record.
  std::atomic<uint64_t> generation{0};
  char name[96] = {};  // given by the program; empty: named by its creation site
  uint64_t capacity = 0;
  StackId created_stack = 0;
  std::atomic<int64_t> depth{0};
  std::atomic<bool> closed{false};
  std::atomic<uint32_t> waiting[2] = {};
  std::atomic<uint64_t> moved[2] = {};  // items sent, received
  AtomicHist wait[2] = {};
  std::atomic<uint64_t> peers[2][kMaxPeers] = {};
  std::atomic<bool> many[2] = {};
  Channel* next_all = nullptr;   // every record ever made, under g_mu
  Channel* next_free = nullptr;  // under g_mu
};

namespace {

using internal::NowNs;

EngineMutex g_mu;  // guards the lists, the retired table and the site names
Channel* g_all = nullptr;
Channel* g_free = nullptr;
std::atomic<uint64_t> g_created{0};

struct Retired {
  uint64_t sent = 0, received = 0;
  stats::Histogram wait[2];
};
std::map<std::string, Retired>& RetiredTable() {  // under g_mu; never destroyed
  static auto* t = new std::map<std::string, Retired>();
  return *t;
}
std::unordered_map<StackId, std::string>& SiteNames() {  // under g_mu
  static auto* t = new std::unordered_map<StackId, std::string>();
  return *t;
}

bool Live(const Channel* ch) { return (ch->generation.load(std::memory_order_acquire) & 1) != 0; }

// "channel@<function> (<file>:<line>)": the first frame of the creation stack that is the
// program's (not lockaudit's headers, not the standard library's).
std::string NameFromStack(StackId stack) {
  {
    EngineLock lock(g_mu);
    auto it = SiteNames().find(stack);
    if (it != SiteNames().end()) return it->second;
  }
  std::string name = "channel@?";
  bool complete = true;
  for (const SymbolizedFrame& f : SymbolizeStack(stack)) {
    complete = complete && f.symbolized;
    if (f.function.empty() || IsPlumbingFile(f.file) || f.file.rfind("/usr/", 0) == 0 ||
        f.function.rfind("lockaudit::", 0) == 0 || f.function.rfind("lockaudit_channel", 0) == 0 ||
        f.function.rfind("std::", 0) == 0) {
      continue;
    }
    name = "channel@" + f.function;
    if (!f.file.empty()) {
      const char* slash = strrchr(f.file.c_str(), '/');
      name += " (" + std::string(slash ? slash + 1 : f.file.c_str()) + ":" + std::to_string(f.line) + ")";
    }
    break;
  }
  if (complete) {
    EngineLock lock(g_mu);
    SiteNames().emplace(stack, name);
  }
  return name;
}

std::string NameOf(const Channel* ch) {
  char buf[sizeof ch->name];
  for (size_t i = 0; i < sizeof buf; ++i) {
    buf[i] = std::atomic_ref<char>(const_cast<char&>(ch->name[i])).load(std::memory_order_relaxed);
  }
  buf[sizeof buf - 1] = 0;
  if (buf[0] != 0) return buf;
  return NameFromStack(ch->created_stack);
}

uint32_t PeerCount(const View& v, Dir d) {
  uint32_t n = 0;
  for (uint64_t p : v.peers[d]) n += p != 0;
  return v.many[d] ? kMaxPeers : n;
}

void Fill(const Channel* ch, View* v) {
  v->name = NameOf(ch);
  v->capacity = ch->capacity;
  v->depth = std::max<int64_t>(0, ch->depth.load(std::memory_order_acquire));
  v->closed = ch->closed.load(std::memory_order_acquire);
  for (int d = 0; d < 2; ++d) {
    v->waiting[d] = ch->waiting[d].load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < kMaxPeers; ++i) v->peers[d][i] = ch->peers[d][i].load(std::memory_order_relaxed);
    v->many[d] = ch->many[d].load(std::memory_order_relaxed);
  }
}

}  // namespace

ReportChannel ToReport(const View& v) {
  ReportChannel c;
  c.name = v.name;
  c.capacity = v.capacity;
  c.depth = v.depth;
  c.closed = v.closed;
  c.senders_waiting = v.waiting[kSend];
  c.receivers_waiting = v.waiting[kRecv];
  c.senders = PeerCount(v, kSend);
  c.receivers = PeerCount(v, kRecv);
  return c;
}

namespace {

std::string Plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

uint64_t KeyOf(const Channel* ch) {
  return Mix64(reinterpret_cast<uintptr_t>(ch) ^ Mix64(ch->generation.load(std::memory_order_relaxed)));
}

void Retire(Channel* ch, const std::string& name) {  // under g_mu; `name`: NameOf(ch), found unlocked
  Retired& r = RetiredTable()[name];
  r.sent += ch->moved[kSend].load(std::memory_order_relaxed);
  r.received += ch->moved[kRecv].load(std::memory_order_relaxed);
  for (int d = 0; d < 2; ++d) ch->wait[d].ReadInto(&r.wait[d]);
}

void ReportLeak(Channel* ch, ThreadState* ts, StackId stack, int64_t items_left, bool at_exit) {
  View v;
  Fill(ch, &v);
  const int64_t left = items_left >= 0 ? items_left : v.depth;
  const uint32_t waiting = v.waiting[kSend] + v.waiting[kRecv];
  if (left <= 0 && waiting == 0) return;
  if (!internal::FirstReport(FindingKind::kChannelLeak, KeyOf(ch), 0)) return;
  Finding f;
  f.kind = FindingKind::kChannelLeak;
  v.depth = left;
  f.channels.push_back(ToReport(v));
  if (ts != nullptr) f.threads.push_back(internal::ThreadOfState(*ts));
  std::string what;
  if (left > 0) what = Plural(static_cast<uint64_t>(left), "item", "items") + " never received";
  if (waiting > 0) {
    if (!what.empty()) what += " and ";
    what += "threads still waiting on it (" + std::to_string(v.waiting[kSend]) + " to send, " +
            std::to_string(v.waiting[kRecv]) + " to receive)";
  }
  f.message = "channel '" + v.name + "' " + (at_exit ? "never destroyed, at exit" : "destroyed") +
              " with " + what + (v.closed ? " (it was closed)" : "") +
              (left > 0 ? ": whatever they stood for (work, replies, messages) is lost"
                        : ": those threads never return from their call");
  f.stack = stack;
  if (!at_exit) {
    f.held_stack = ch->created_stack;
    f.held_label = "channel '" + v.name + "' created";
  }
  Publish(std::move(f));
}

}  // namespace

Channel* Create(const char* name, uint64_t capacity, Site site) noexcept {
  EnsureInitialized();
  if (!internal::EngineReady() || internal::EngineFinished()) return nullptr;
  EngineScope scope;
  Channel* ch = nullptr;
  {
    EngineLock lock(g_mu);
    if (g_free != nullptr) {
      ch = g_free;
      g_free = ch->next_free;
    }
  }
  if (ch == nullptr) {
    ch = new Channel();
    EngineLock lock(g_mu);
    ch->next_all = g_all;
    g_all = ch;
  }
  memset(ch->name, 0, sizeof ch->name);
  if (name != nullptr) snprintf(ch->name, sizeof ch->name, "%s", name);
  ch->capacity = capacity;
  ch->created_stack = internal::CaptureStack(site.pc);
  ch->depth.store(0, std::memory_order_relaxed);
  ch->closed.store(false, std::memory_order_relaxed);
  for (int d = 0; d < 2; ++d) {
    ch->waiting[d].store(0, std::memory_order_relaxed);
    ch->moved[d].store(0, std::memory_order_relaxed);
    ch->wait[d].Clear();
    for (auto& p : ch->peers[d]) p.store(0, std::memory_order_relaxed);
    ch->many[d].store(false, std::memory_order_relaxed);
  }
  ch->generation.fetch_add(1, std::memory_order_release);  // odd: live
  g_created.fetch_add(1, std::memory_order_relaxed);
  return ch;
}

void Touch(ThreadState& ts, Channel* ch, Dir dir) noexcept {
  if (ch == nullptr) return;
  const uint64_t gen = ch->generation.load(std::memory_order_relaxed);
  if (ts.chan_peer_cache[dir] == ch && ts.chan_peer_gen[dir] == gen) return;
  ts.chan_peer_cache[dir] = ch;
  ts.chan_peer_gen[dir] = gen;
  if (ch->many[dir].load(std::memory_order_relaxed)) return;
  const uint64_t me = ts.incarnation;
  for (uint32_t i = 0; i < kMaxPeers; ++i) {
    uint64_t v = ch->peers[dir][i].load(std::memory_order_relaxed);
    if (v == me) return;
    if (v == 0 && ch->peers[dir][i].compare_exchange_strong(v, me, std::memory_order_relaxed)) return;
    if (v == me) return;  // (the failed CAS loaded it)
  }
  ch->many[dir].store(true, std::memory_order_relaxed);
}

bool IsClosed(const Channel* ch) noexcept {
  return ch != nullptr && ch->closed.load(std::memory_order_acquire);
}

bool WouldWait(const Channel* ch, Dir dir) noexcept {
  if (ch == nullptr || ch->closed.load(std::memory_order_acquire)) return false;
  const int64_t depth = ch->depth.load(std::memory_order_acquire);
  if (dir == kSend) return ch->capacity != 0 && depth >= static_cast<int64_t>(ch->capacity);
  return depth <= 0;
}

void SendOnClosed(ThreadState& ts, Channel* ch, Site site, bool waited) noexcept {
  if (ch == nullptr) return;
  EngineScope scope;
  if (!internal::FirstReport(FindingKind::kSendOnClosed, KeyOf(ch), site.pc)) return;
  View v;
  Fill(ch, &v);
  Finding f;
  f.kind = FindingKind::kSendOnClosed;
  f.channels.push_back(ToReport(v));
  f.threads.push_back(internal::ThreadOfState(ts));
  f.stack = internal::CaptureStack(site.pc);
  f.held_stack = ch->created_stack;
  f.held_label = "channel '" + v.name + "' created";
  f.message = "thread '" + std::string(ts.name) + "' (tid " + std::to_string(ts.tid) +
              (waited ? ") was waiting to send on the full channel '" + v.name +
                            "' when it was closed: the send failed and the "
                      : ") sent on channel '" + v.name + "' after it was closed: the send failed and the ") +
              "item was not queued (" + Plural(static_cast<uint64_t>(v.depth), "item", "items") +
              " still in it; a producer that outlives close() drops its work unless it checks the "
              "result)";
  Publish(std::move(f));
}

void WaitBegin(ThreadState& ts, Channel* ch, Dir dir, Site site, bool timed) noexcept {
  if (ch == nullptr) return;
  if (ts.chan_seq.load(std::memory_order_relaxed) & 1) return;  // already waiting (nested use)
  ts.chan_wait = ch;
  ts.chan_gen = ch->generation.load(std::memory_order_relaxed);
  ts.chan_dir = dir;
  ts.chan_timed = timed;
  ts.chan_since_ns = NowNs();
  ts.chan_site = site;
  ts.chan_stack.store(0, std::memory_order_relaxed);
  ch->waiting[dir].fetch_add(1, std::memory_order_relaxed);
  const uint64_t seq = ts.chan_seq.load(std::memory_order_relaxed);
  ts.chan_seq.store(seq | 1, std::memory_order_release);
  NeedBackground();  // a single-threaded program starts no engine thread until now
}

void StillWaiting(ThreadState& ts) noexcept {
  if (!(ts.chan_seq.load(std::memory_order_relaxed) & 1)) return;
  EngineScope scope;
  ts.chan_stack.store(internal::CaptureStack(ts.chan_site.pc), std::memory_order_release);
}

void WaitEnd(ThreadState& ts, Channel* ch) noexcept {
  const uint64_t seq = ts.chan_seq.load(std::memory_order_relaxed);
  if (!(seq & 1) || ts.chan_wait != ch || ch == nullptr) return;
  ts.chan_seq.store(seq + 1, std::memory_order_release);
  if (ch->generation.load(std::memory_order_relaxed) != ts.chan_gen) return;  // destroyed meanwhile
  ch->waiting[ts.chan_dir].fetch_sub(1, std::memory_order_relaxed);
  ch->wait[ts.chan_dir].Observe(NowNs() - ts.chan_since_ns);
}

void Moved(Channel* ch, Dir dir) noexcept {
  if (ch == nullptr) return;
  ch->depth.fetch_add(dir == kSend ? 1 : -1, std::memory_order_acq_rel);
  ch->moved[dir].fetch_add(1, std::memory_order_relaxed);
}

void Close(Channel* ch) noexcept {
  if (ch != nullptr) ch->closed.store(true, std::memory_order_release);
}

void Destroy(ThreadState* ts, Channel* ch, Site site, int64_t items_left) noexcept {
  if (ch == nullptr || !Live(ch)) return;
  EngineScope scope;
  if (!internal::EngineFinished()) {
    const bool leaking = (items_left >= 0 ? items_left : ch->depth.load()) > 0 ||
                         ch->waiting[kSend].load() + ch->waiting[kRecv].load() > 0;
    if (leaking) ReportLeak(ch, ts, internal::CaptureStack(site.pc), items_left, false);
  }
  const std::string name = NameOf(ch);  // may symbolize and take g_mu: before the lock
  EngineLock lock(g_mu);
  Retire(ch, name);
  ch->generation.fetch_add(1, std::memory_order_release);  // even: gone
  ch->next_free = g_free;
  g_free = ch;
}

void ReportAtExit() noexcept {
  EngineScope scope;
  std::vector<Channel*> live;
  {
    EngineLock lock(g_mu);
    for (Channel* ch = g_all; ch != nullptr; ch = ch->next_all) {
      if (Live(ch)) live.push_back(ch);
    }
  }
  for (Channel* ch : live) ReportLeak(ch, nullptr, ch->created_stack, -1, true);
}

bool Peek(const void* p, uint64_t generation, View* out) noexcept {
  const Channel* ch = static_cast<const Channel*>(p);
  if (ch == nullptr || ch->generation.load(std::memory_order_acquire) != generation || !Live(ch)) {
    return false;
  }
  Fill(ch, out);
  out->generation = generation;
  return ch->generation.load(std::memory_order_acquire) == generation;
}

std::string StateText(const View& v) {
  std::string s = "'" + v.name + "' (";
  if (v.closed) {
    s += "closed, ";
  }
  if (v.capacity != 0 && v.depth >= static_cast<int64_t>(v.capacity)) {
    s += "full: ";
  } else if (v.depth == 0) {
    s += "empty: ";
  }
  s += (v.capacity != 0 ? std::to_string(v.depth) + " of " + std::to_string(v.capacity) + " items"
                       : Plural(static_cast<uint64_t>(v.depth), "item", "items") + ", unbounded") +
       "; " + Plural(v.waiting[kSend], "sender", "senders") + " waiting, " +
       Plural(v.waiting[kRecv], "receiver", "receivers") + " waiting)";
  return s;
}

void ReportStall(const View& v, const void* ch, Dir dir, uint32_t tid, const char* thread_name,
                 uint64_t waited_ns, uint64_t threshold_ns, StackId stack,
                 const std::string& peers_text) noexcept {
  EngineScope scope;
  const auto* c = static_cast<const Channel*>(ch);
  if (!internal::FirstReport(FindingKind::kChannelStall, KeyOf(c), dir)) return;
  Finding f;
  f.kind = FindingKind::kChannelStall;
  f.channels.push_back(ToReport(v));
  f.threads.push_back(ReportThread{tid, thread_name});
  f.stack = stack;
  f.held_stack = c->created_stack;
  f.held_label = "channel '" + v.name + "' created";
  f.message = "thread '" + std::string(thread_name) + "' (tid " + std::to_string(tid) +
              ") has waited " + std::to_string(waited_ns / 1000000) + " ms (threshold " +
              std::to_string(threshold_ns / 1000000) + " ms) to " +
              (dir == kSend ? "send on" : "receive from") + " channel " + StateText(v) + "; " +
              peers_text;
  Publish(std::move(f));
}

void Collect(std::vector<stats::ChannelRow>* out) {
  std::map<std::string, stats::ChannelRow> rows;
  std::vector<Channel*> live;
  {
    EngineLock lock(g_mu);
    for (const auto& [name, r] : RetiredTable()) {
      stats::ChannelRow& row = rows[name];
      row.sent += r.sent;
      row.received += r.received;
      row.send_wait.Add(r.wait[kSend]);
      row.recv_wait.Add(r.wait[kRecv]);
    }
    for (Channel* ch = g_all; ch != nullptr; ch = ch->next_all) {
      if (Live(ch)) live.push_back(ch);
    }
  }
  for (Channel* ch : live) {
    stats::ChannelRow& row = rows[NameOf(ch)];
    row.capacity += ch->capacity;
    row.depth += std::max<int64_t>(0, ch->depth.load(std::memory_order_relaxed));
    row.waiting_send += ch->waiting[kSend].load(std::memory_order_relaxed);
    row.waiting_recv += ch->waiting[kRecv].load(std::memory_order_relaxed);
    row.sent += ch->moved[kSend].load(std::memory_order_relaxed);
    row.received += ch->moved[kRecv].load(std::memory_order_relaxed);
    ch->wait[kSend].ReadInto(&row.send_wait);
    ch->wait[kRecv].ReadInto(&row.recv_wait);
  }
  for (auto& [name, row] : rows) {
    row.name = name;
    out->push_back(std::move(row));
  }
}

void Totals(uint64_t* created, uint64_t* items) {
  *created = g_created.load(std::memory_order_relaxed);
  std::vector<stats::ChannelRow> rows;
  Collect(&rows);
  *items = 0;
  for (const stats::ChannelRow& r : rows) *items += r.sent;
}

void ResetAfterFork() noexcept { g_mu.ResetAfterFork(); }

}  // namespace lockaudit::core::channel
