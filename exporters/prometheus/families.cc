#include "families.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace lockaudit::exporters {
namespace {

namespace stats = core::stats;
using ::prometheus::ClientMetric;
using ::prometheus::MetricFamily;
using ::prometheus::MetricType;

constexpr double kNsPerSecond = 1e9;

uint64_t CountOf(const stats::Histogram& h) {
  uint64_t n = 0;
  for (uint64_t c : h.counts) n += c;
  return n;
}

void AddInto(stats::Histogram& into, const stats::Histogram& h) {
  for (int i = 0; i <= stats::kBuckets; ++i) into.counts[i] += h.counts[i];
  into.sum_ns += h.sum_ns;
}

ClientMetric::Histogram ToHistogram(const stats::Histogram& h, const std::vector<double>& bounds) {
  ClientMetric::Histogram out;
  uint64_t cumulative = 0;
  const size_t finite = std::min(bounds.size(), static_cast<size_t>(stats::kBuckets));
  for (size_t i = 0; i < finite; ++i) {
    cumulative += h.counts[i];
    out.bucket.push_back({cumulative, bounds[i]});
  }
  out.sample_count = CountOf(h);  // includes buckets past `finite` and +Inf
  out.bucket.push_back({out.sample_count, std::numeric_limits<double>::infinity()});
  out.sample_sum = static_cast<double>(h.sum_ns) / kNsPerSecond;
  return out;
}

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

ClientMetric Labelled(std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  return m;
}

void AddCounter(MetricFamily& f, std::vector<ClientMetric::Label> labels, uint64_t value) {
  ClientMetric m = Labelled(std::move(labels));
  m.counter.value = static_cast<double>(value);
  f.metric.push_back(std::move(m));
}

void AddGauge(std::vector<MetricFamily>& out, const char* name, const char* help, uint64_t value) {
  MetricFamily f = Family(name, help, MetricType::Gauge);
  ClientMetric m;
  m.gauge.value = static_cast<double>(value);
  f.metric.push_back(std::move(m));
  out.push_back(std::move(f));
}

void AddHistogram(MetricFamily& f, std::vector<ClientMetric::Label> labels,
                  const stats::Histogram& h, const std::vector<double>& bounds) {
  ClientMetric m = Labelled(std::move(labels));
  m.histogram = ToHistogram(h, bounds);
  f.metric.push_back(std::move(m));
}

void MaxInto(stats::Histogram& into, const stats::Histogram& h) {
  for (int i = 0; i <= stats::kBuckets; ++i) into.counts[i] = std::max(into.counts[i], h.counts[i]);
  into.sum_ns = std::max(into.sum_ns, h.sum_ns);
}

void MergeLock(stats::LockRow& into, const stats::LockRow& r) {
  into.acquisitions += r.acquisitions;
  into.contentions += r.contentions;
  AddInto(into.wait, r.wait);
  AddInto(into.hold, r.hold);
  into.gpu_sync_ns += r.gpu_sync_ns;
  into.churn += r.churn;
  into.shared_acquisitions += r.shared_acquisitions;
  into.shared_contentions += r.shared_contentions;
  into.rwlock = into.rwlock || r.rwlock;
}

void MaxLock(stats::LockRow& into, const stats::LockRow& r) {
  into.acquisitions = std::max(into.acquisitions, r.acquisitions);
  into.contentions = std::max(into.contentions, r.contentions);
  MaxInto(into.wait, r.wait);
  MaxInto(into.hold, r.hold);
  into.gpu_sync_ns = std::max(into.gpu_sync_ns, r.gpu_sync_ns);
  into.churn = std::max(into.churn, r.churn);
  into.shared_acquisitions = std::max(into.shared_acquisitions, r.shared_acquisitions);
  into.shared_contentions = std::max(into.shared_contentions, r.shared_contentions);
  into.rwlock = into.rwlock || r.rwlock;
}

void MergeCond(stats::CondRow& into, const stats::CondRow& r) {
  AddInto(into.wake, r.wake);
  into.budget_violations += r.budget_violations;
}

void MaxCond(stats::CondRow& into, const stats::CondRow& r) {
  MaxInto(into.wake, r.wake);
  into.budget_violations = std::max(into.budget_violations, r.budget_violations);
}

void MergeKernel(stats::GpuKernelRow& into, const stats::GpuKernelRow& r) {
  AddInto(into.seconds, r.seconds);
}

void MaxKernel(stats::GpuKernelRow& into, const stats::GpuKernelRow& r) {
  MaxInto(into.seconds, r.seconds);
}

void MergeChannel(stats::ChannelRow& into, const stats::ChannelRow& r) {
  into.capacity += r.capacity;
  into.depth += r.depth;
  into.waiting_send += r.waiting_send;
  into.waiting_recv += r.waiting_recv;
  into.sent += r.sent;
  into.received += r.received;
  AddInto(into.send_wait, r.send_wait);
  AddInto(into.recv_wait, r.recv_wait);
}

// Counters and histograms never go down; the gauges (capacity, depth, waiting) are as they are now.
void MaxChannel(stats::ChannelRow& into, const stats::ChannelRow& r) {
  into.sent = std::max(into.sent, r.sent);
  into.received = std::max(into.received, r.received);
  MaxInto(into.send_wait, r.send_wait);
  MaxInto(into.recv_wait, r.recv_wait);
}

// The label values of one family group that have their own series, and the rows exported last
// (the chosen names and "other"), for the never-decreasing rule.
template <class Row>
struct Series {
  std::set<std::string> chosen;
  std::map<std::string, Row> last;
};

// Rows merged by name; the chosen ones under their own name (chosen at the first scrape that
// has them while there is room, ranked by `before`), all others summed into one row named
// "other", placed last. Each returned row is at least the one returned for its name before.
template <class Row, class Merge, class Max, class Before>
std::vector<Row> Stable(const std::vector<Row>& rows, std::string Row::*name, size_t max_series,
                        Merge merge, Max max, Before before, Series<Row>& series) {
  std::map<std::string, Row> by_name;
  for (const Row& r : rows) {
    auto [it, fresh] = by_name.try_emplace(r.*name, r);
    if (!fresh) merge(it->second, r);
  }
  if (series.chosen.size() < max_series) {
    // Room is left only while every name seen so far has its own series: nothing ever moves
    // out of "other".
    std::vector<const Row*> fresh;
    for (const auto& [n, r] : by_name) {
      if (n != kOtherSeries && !series.chosen.count(n)) fresh.push_back(&r);
    }
    std::stable_sort(fresh.begin(), fresh.end(),
                     [&](const Row* a, const Row* b) { return before(*a, *b); });  // ties: name
    for (const Row* r : fresh) {
      if (series.chosen.size() >= max_series) break;
      series.chosen.insert(r->*name);
    }
  }
  std::vector<Row> out;
  Row other{};
  bool have_other = series.last.count(kOtherSeries) != 0;
  for (auto& [n, r] : by_name) {
    if (series.chosen.count(n)) continue;
    merge(other, r);
    have_other = true;
  }
  for (const std::string& n : series.chosen) {
    auto it = by_name.find(n);
    Row r{};
    if (it != by_name.end()) r = it->second;
    r.*name = n;
    out.push_back(std::move(r));
  }
  // Most active first (as the first scrape ranked them), for a reader of the raw exposition.
  std::stable_sort(out.begin(), out.end(), before);
  if (have_other) {
    other.*name = kOtherSeries;
    out.push_back(std::move(other));
  }
  for (Row& r : out) {
    auto [it, fresh] = series.last.try_emplace(r.*name, r);
    if (!fresh) {
      max(r, it->second);
      it->second = r;
    }
  }
  return out;
}

}  // namespace

struct FamilyBuilder::State {
  Series<stats::LockRow> locks;
  Series<stats::CondRow> conds;
  Series<stats::GpuKernelRow> kernels;
  Series<stats::ChannelRow> channels;
  std::map<std::pair<std::string, bool>, stats::Histogram> gpu_sync;  // exported last
  std::map<std::string, stats::Histogram> blocking;  // by call; never shrinks (monotone)
  bool gpu_seen = false;
};

namespace {

void AddLockFamilies(const stats::Snapshot& s, const FamilyOptions& o,
                     FamilyBuilder::State& st, std::vector<MetricFamily>& out) {
  if (s.locks.empty() && st.locks.last.empty()) return;
  const std::vector<stats::LockRow> locks = Stable(
      s.locks, &stats::LockRow::name, o.max_series, MergeLock, MaxLock,
      [](const stats::LockRow& a, const stats::LockRow& b) {
        if (a.contentions != b.contentions) return a.contentions > b.contentions;
        return a.acquisitions > b.acquisitions;
      },
      st.locks);
  MetricFamily acquisitions = Family("lockaudit_lock_acquisitions_total",
                                     "Acquisitions of the lock (blocking and successful tries).",
                                     MetricType::Counter);
  MetricFamily contentions = Family("lockaudit_lock_contentions_total",
                                    "Acquisitions that found the lock taken and had to block.",
                                    MetricType::Counter);
  MetricFamily wait = Family("lockaudit_lock_wait_seconds",
                             "Time blocked in contended acquisitions of the lock (every one).",
                             MetricType::Histogram);
  MetricFamily hold = Family("lockaudit_lock_hold_sampled_seconds",
                             "Hold times of a sample of the lock's holds: 1 in "
                             "lockaudit_lock_hold_sample_period acquisitions per thread is timed. "
                             "Quantiles hold as they are; multiply _sum and _count by the period "
                             "for totals.",
                             MetricType::Histogram);
  for (const stats::LockRow& r : locks) {
    AddCounter(acquisitions, {{"lock", r.name}}, r.acquisitions);
    AddCounter(contentions, {{"lock", r.name}}, r.contentions);
    AddHistogram(wait, {{"lock", r.name}}, r.wait, o.bucket_bounds);
    AddHistogram(hold, {{"lock", r.name}}, r.hold, o.bucket_bounds);
  }
  out.push_back(std::move(acquisitions));
  out.push_back(std::move(contentions));
  out.push_back(std::move(wait));
  out.push_back(std::move(hold));
  MetricFamily churn = Family("lockaudit_lock_churn_total",
                              "Re-acquisitions of the lock by the thread that had just released "
                              "it, from another site, no other lock in between (lock churn).",
                              MetricType::Counter);
  for (const stats::LockRow& r : locks) AddCounter(churn, {{"lock", r.name}}, r.churn);
  out.push_back(std::move(churn));
  // Reader-writer locks by mode: exclusive = all - shared (the totals are monotone, and so is
  // each mode's count: both are kept at their largest value).
  MetricFamily rw_acq = Family("lockaudit_rwlock_acquisitions_total",
                               "Acquisitions of reader-writer locks, by mode (shared: read).",
                               MetricType::Counter);
  MetricFamily rw_cont = Family("lockaudit_rwlock_contentions_total",
                                "Contended acquisitions of reader-writer locks, by mode.",
                                MetricType::Counter);
  for (const stats::LockRow& r : locks) {
    if (!r.rwlock) continue;
    const uint64_t excl_acq = r.acquisitions - std::min(r.acquisitions, r.shared_acquisitions);
    const uint64_t excl_cont = r.contentions - std::min(r.contentions, r.shared_contentions);
    AddCounter(rw_acq, {{"lock", r.name}, {"mode", "shared"}}, r.shared_acquisitions);
    AddCounter(rw_acq, {{"lock", r.name}, {"mode", "exclusive"}}, excl_acq);
    AddCounter(rw_cont, {{"lock", r.name}, {"mode", "shared"}}, r.shared_contentions);
    AddCounter(rw_cont, {{"lock", r.name}, {"mode", "exclusive"}}, excl_cont);
  }
  if (!rw_acq.metric.empty()) {
    out.push_back(std::move(rw_acq));
    out.push_back(std::move(rw_cont));
  }
  AddGauge(out, "lockaudit_lock_hold_sample_period",
           "One hold in this many (per thread and lock) is timed into "
           "lockaudit_lock_hold_sampled_seconds.",
           s.hold_sample_period);
  if (st.gpu_seen) {
    MetricFamily gpu = Family("lockaudit_lock_gpu_sync_seconds_total",
                              "Time threads spent in synchronising CUDA calls while holding the "
                              "lock (every call, not sampled).",
                              MetricType::Counter);
    for (const stats::LockRow& r : locks) {
      ClientMetric m = Labelled({{"lock", r.name}});
      m.counter.value = static_cast<double>(r.gpu_sync_ns) / kNsPerSecond;
      gpu.metric.push_back(std::move(m));
    }
    out.push_back(std::move(gpu));
  }
}

void AddCondFamily(const stats::Snapshot& s, const FamilyOptions& o, FamilyBuilder::State& st,
                   std::vector<MetricFamily>& out) {
  if (s.conds.empty() && st.conds.last.empty()) return;
  const std::vector<stats::CondRow> conds =
      Stable(s.conds, &stats::CondRow::name, o.max_series, MergeCond, MaxCond,
             [](const stats::CondRow& a, const stats::CondRow& b) {
               return CountOf(a.wake) > CountOf(b.wake);
             },
             st.conds);
  MetricFamily wake = Family("lockaudit_cond_wake_latency_seconds",
                             "Time from pthread_cond_signal/broadcast to the woken waiter running "
                             "again (mutex re-acquired).",
                             MetricType::Histogram);
  MetricFamily budget = Family("lockaudit_cond_wake_budget_violations_total",
                               "Wakes slower than LOCKAUDIT_WAKE_BUDGET_MS (always 0 when no "
                               "budget is set).",
                               MetricType::Counter);
  for (const stats::CondRow& r : conds) {
    AddHistogram(wake, {{"cond", r.name}}, r.wake, o.bucket_bounds);
    AddCounter(budget, {{"cond", r.name}}, r.budget_violations);
  }
  out.push_back(std::move(wake));
  out.push_back(std::move(budget));
}

void AddEngineFamilies(const stats::Snapshot& s, const FamilyOptions& o,
                       std::vector<MetricFamily>& out) {
  MetricFamily stalls = Family("lockaudit_stalls_total",
                               "Waits on (kind=wait) or holds of (kind=hold) one lock longer than "
                               "LOCKAUDIT_STALL_MS.",
                               MetricType::Counter);
  AddCounter(stalls, {{"kind", "wait"}}, s.wait_stalls);
  AddCounter(stalls, {{"kind", "hold"}}, s.hold_stalls);
  out.push_back(std::move(stalls));

  MetricFamily findings = Family("lockaudit_findings_total",
                                 "Unsuppressed findings, by kind (docs/report.md).",
                                 MetricType::Counter);
  for (const stats::FindingCountRow& r : s.findings) AddCounter(findings, {{"kind", r.kind}}, r.count);
  out.push_back(std::move(findings));

  AddGauge(out, "lockaudit_graph_locks", "Live locks in the lock-order graph.", s.graph_locks);
  AddGauge(out, "lockaudit_graph_edges", "Live lock-order edges.", s.graph_edges);
  AddGauge(out, "lockaudit_threads", "Audited threads alive now.", s.threads);
  AddGauge(out, "lockaudit_threads_blocked",
           "Audited threads blocked in a lock acquisition now.", s.threads_blocked);
  AddGauge(out, "lockaudit_threads_deadlocked",
           "Threads in an actual deadlock found by the watchdog, for as long as they stay stuck.",
           s.threads_deadlocked);

  MetricFamily info = Family("lockaudit_build_info", "The lockaudit version serving these metrics.",
                             MetricType::Gauge);
  ClientMetric m = Labelled({{"version", o.version}});
  m.gauge.value = 1;
  info.metric.push_back(std::move(m));
  out.push_back(std::move(info));
}

// lockaudit_blocking_under_lock_seconds{call}: one series per call name (a fixed set, so no
// cardinality cap), kept at its largest value so that no bucket goes down.
void AddBlockingFamily(const stats::Snapshot& s, const FamilyOptions& o, FamilyBuilder::State& st,
                       std::vector<MetricFamily>& out) {
  for (const stats::BlockingRow& r : s.blocking_under_lock) MaxInto(st.blocking[r.call], r.seconds);
  if (st.blocking.empty()) return;
  MetricFamily f = Family("lockaudit_blocking_under_lock_seconds",
                          "Duration of blocking calls (sleep, poll, blocking reads, waitpid, ...) "
                          "made while holding audited locks, by call.",
                          MetricType::Histogram);
  for (const auto& [call, h] : st.blocking) AddHistogram(f, {{"call", call}}, h, o.bucket_bounds);
  out.push_back(std::move(f));
}

// lockaudit_channel_*{channel}: channels by name (core/channel.h), the busiest max_series with
// their own series (by items sent), the rest summed into channel="other".
void AddChannelFamilies(const stats::Snapshot& s, const FamilyOptions& o, FamilyBuilder::State& st,
                        std::vector<MetricFamily>& out) {
  if (s.channels.empty() && st.channels.last.empty()) return;
  const std::vector<stats::ChannelRow> rows = Stable(
      s.channels, &stats::ChannelRow::name, o.max_series, MergeChannel, MaxChannel,
      [](const stats::ChannelRow& a, const stats::ChannelRow& b) { return a.sent > b.sent; },
      st.channels);
  MetricFamily depth = Family("lockaudit_channel_depth", "Items in the channel now.", MetricType::Gauge);
  MetricFamily capacity = Family("lockaudit_channel_capacity",
                                 "Capacity of the live channels of this name (0: unbounded or none live).",
                                 MetricType::Gauge);
  MetricFamily waiting = Family("lockaudit_channel_waiting_threads",
                                "Threads waiting now to send on a full channel (op=\"send\") or to "
                                "receive from an empty one (op=\"recv\").",
                                MetricType::Gauge);
  MetricFamily items = Family("lockaudit_channel_items_total",
                              "Items sent into (op=\"send\") and received from (op=\"recv\") the channel.",
                              MetricType::Counter);
  MetricFamily wait = Family("lockaudit_channel_wait_seconds",
                             "Time a send waited on a full channel (op=\"send\") or a receive on an "
                             "empty one (op=\"recv\").",
                             MetricType::Histogram);
  auto gauge = [](MetricFamily& f, std::vector<ClientMetric::Label> labels, double v) {
    ClientMetric m = Labelled(std::move(labels));
    m.gauge.value = v;
    f.metric.push_back(std::move(m));
  };
  for (const stats::ChannelRow& r : rows) {
    gauge(depth, {{"channel", r.name}}, static_cast<double>(r.depth));
    gauge(capacity, {{"channel", r.name}}, static_cast<double>(r.capacity));
    gauge(waiting, {{"channel", r.name}, {"op", "send"}}, static_cast<double>(r.waiting_send));
    gauge(waiting, {{"channel", r.name}, {"op", "recv"}}, static_cast<double>(r.waiting_recv));
    AddCounter(items, {{"channel", r.name}, {"op", "send"}}, r.sent);
    AddCounter(items, {{"channel", r.name}, {"op", "recv"}}, r.received);
    AddHistogram(wait, {{"channel", r.name}, {"op", "send"}}, r.send_wait, o.bucket_bounds);
    AddHistogram(wait, {{"channel", r.name}, {"op", "recv"}}, r.recv_wait, o.bucket_bounds);
  }
  for (MetricFamily* f : {&depth, &capacity, &waiting, &items, &wait}) out.push_back(std::move(*f));
}

void AddGpuFamilies(const stats::Snapshot& s, const FamilyOptions& o, FamilyBuilder::State& st,
                    std::vector<MetricFamily>& out) {
  for (const stats::GpuSyncRow& r : s.gpu_sync) {
    stats::Histogram& last = st.gpu_sync[{r.api, r.under_lock}];
    MaxInto(last, r.seconds);
  }
  if (!st.gpu_sync.empty()) {
    MetricFamily sync = Family("lockaudit_gpu_sync_seconds",
                               "Duration of synchronising CUDA calls, by API and whether the "
                               "thread held audited locks.",
                               MetricType::Histogram);
    for (const auto& [key, h] : st.gpu_sync) {
      AddHistogram(sync, {{"api", key.first}, {"under_lock", key.second ? "true" : "false"}}, h,
                   o.bucket_bounds);
    }
    out.push_back(std::move(sync));
  }
  if (!s.gpu_kernels.empty() || !st.kernels.last.empty()) {
    const std::vector<stats::GpuKernelRow> kernels =
        Stable(s.gpu_kernels, &stats::GpuKernelRow::kernel, o.max_series, MergeKernel, MaxKernel,
               [](const stats::GpuKernelRow& a, const stats::GpuKernelRow& b) {
                 return a.seconds.sum_ns > b.seconds.sum_ns;
               },
               st.kernels);
    MetricFamily kernel = Family("lockaudit_gpu_kernel_seconds",
                                 "Duration of GPU kernels and copies (CUPTI activity records).",
                                 MetricType::Histogram);
    for (const stats::GpuKernelRow& r : kernels) {
      AddHistogram(kernel, {{"kernel", r.kernel}}, r.seconds, o.bucket_bounds);
    }
    out.push_back(std::move(kernel));
  }
  if (s.dispatch_cpu + s.dispatch_gpu > 0) {
    MetricFamily dispatch = Family("lockaudit_dispatch_total",
                                   "Decisions of the hybrid CPU/GPU dispatcher, by target.",
                                   MetricType::Counter);
    AddCounter(dispatch, {{"target", "cpu"}}, s.dispatch_cpu);
    AddCounter(dispatch, {{"target", "gpu"}}, s.dispatch_gpu);
    out.push_back(std::move(dispatch));
  }
}

}  // namespace

FamilyBuilder::FamilyBuilder(FamilyOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {}

FamilyBuilder::~FamilyBuilder() = default;

std::vector<MetricFamily> FamilyBuilder::Build(const stats::Snapshot& snapshot) {
  std::vector<MetricFamily> out;
  state_->gpu_seen = state_->gpu_seen || !snapshot.gpu_sync.empty();
  AddLockFamilies(snapshot, options_, *state_, out);
  AddCondFamily(snapshot, options_, *state_, out);
  AddEngineFamilies(snapshot, options_, out);
  AddBlockingFamily(snapshot, options_, *state_, out);
  AddChannelFamilies(snapshot, options_, *state_, out);
  AddGpuFamilies(snapshot, options_, *state_, out);
  return out;
}

std::vector<MetricFamily> ToFamilies(const stats::Snapshot& snapshot, const FamilyOptions& options) {
  return FamilyBuilder(options).Build(snapshot);
}

}  // namespace lockaudit::exporters
