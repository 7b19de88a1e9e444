#include "families.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
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

// Keeps the `max_series` rows that rank first by `before` under their own name and sums the rest
// (and any row literally named "other") into one row named "other", placed last. Rows sharing a
// name are merged first, so the cap counts distinct label values.
template <class Row, class Merge, class Before>
std::vector<Row> Capped(const std::vector<Row>& rows, std::string Row::*name, size_t max_series,
                        Merge merge, Before before) {
  std::map<std::string, Row> by_name;
  for (const Row& r : rows) {
    auto [it, fresh] = by_name.try_emplace(r.*name, r);
    if (!fresh) merge(it->second, r);
  }
  std::vector<Row> sorted;
  sorted.reserve(by_name.size());
  for (auto& [n, r] : by_name) sorted.push_back(std::move(r));
  std::stable_sort(sorted.begin(), sorted.end(), before);  // map order: ties end by name
  std::vector<Row> out;
  Row other{};
  other.*name = kOtherSeries;
  bool have_other = false;
  for (Row& r : sorted) {
    if (out.size() < max_series && r.*name != kOtherSeries) {
      out.push_back(std::move(r));
    } else {
      merge(other, r);
      have_other = true;
    }
  }
  if (have_other) out.push_back(std::move(other));
  return out;
}

void MergeLock(stats::LockRow& into, const stats::LockRow& r) {
  into.acquisitions += r.acquisitions;
  into.contentions += r.contentions;
  AddInto(into.wait, r.wait);
  AddInto(into.hold, r.hold);
  into.gpu_sync_ns += r.gpu_sync_ns;
}

void MergeCond(stats::CondRow& into, const stats::CondRow& r) {
  AddInto(into.wake, r.wake);
  into.budget_violations += r.budget_violations;
}

void MergeKernel(stats::GpuKernelRow& into, const stats::GpuKernelRow& r) {
  AddInto(into.seconds, r.seconds);
}

void AddLockFamilies(const stats::Snapshot& s, const FamilyOptions& o,
                     std::vector<MetricFamily>& out) {
  if (s.locks.empty()) return;
  const std::vector<stats::LockRow> locks = Capped(
      s.locks, &stats::LockRow::name, o.max_series, MergeLock,
      [](const stats::LockRow& a, const stats::LockRow& b) {
        if (a.contentions != b.contentions) return a.contentions > b.contentions;
        return a.acquisitions > b.acquisitions;
      });
  MetricFamily acquisitions = Family("lockaudit_lock_acquisitions_total",
                                     "Acquisitions of the lock (blocking and successful tries).",
                                     MetricType::Counter);
  MetricFamily contentions = Family("lockaudit_lock_contentions_total",
                                    "Acquisitions that found the lock taken and had to block.",
                                    MetricType::Counter);
  MetricFamily wait = Family("lockaudit_lock_wait_seconds",
                             "Time blocked in contended acquisitions of the lock.",
                             MetricType::Histogram);
  MetricFamily hold = Family("lockaudit_lock_hold_seconds",
                             "Time the lock was held (sampled holds).", MetricType::Histogram);
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
}

void AddCondFamily(const stats::Snapshot& s, const FamilyOptions& o,
                   std::vector<MetricFamily>& out) {
  if (s.conds.empty()) return;
  const std::vector<stats::CondRow> conds =
      Capped(s.conds, &stats::CondRow::name, o.max_series, MergeCond,
             [](const stats::CondRow& a, const stats::CondRow& b) {
               return CountOf(a.wake) > CountOf(b.wake);
             });
  MetricFamily wake = Family("lockaudit_cond_wake_latency_seconds",
                             "Time from pthread_cond_signal/broadcast to the woken waiter running "
                             "again (mutex re-acquired).",
                             MetricType::Histogram);
  for (const stats::CondRow& r : conds) AddHistogram(wake, {{"cond", r.name}}, r.wake, o.bucket_bounds);
  out.push_back(std::move(wake));
}

void AddEngineFamilies(const stats::Snapshot& s, std::vector<MetricFamily>& out) {
  MetricFamily stalls = Family("lockaudit_stalls_total",
                               "Waits on (kind=wait) or holds of (kind=hold) one lock longer than "
                               "LOCKAUDIT_STALL_MS.",
                               MetricType::Counter);
  AddCounter(stalls, {{"kind", "wait"}}, s.wait_stalls);
  AddCounter(stalls, {{"kind", "hold"}}, s.hold_stalls);
  out.push_back(std::move(stalls));

  MetricFamily findings = Family("lockaudit_findings_total",
                                 "Unsuppressed findings, by kind (DESIGN.md §5).",
                                 MetricType::Counter);
  for (const stats::FindingCountRow& r : s.findings) AddCounter(findings, {{"kind", r.kind}}, r.count);
  out.push_back(std::move(findings));

  AddGauge(out, "lockaudit_graph_locks", "Live locks in the lock-order graph.", s.graph_locks);
  AddGauge(out, "lockaudit_graph_edges", "Live lock-order edges.", s.graph_edges);
  AddGauge(out, "lockaudit_threads", "Audited threads alive now.", s.threads);
}

void AddGpuFamilies(const stats::Snapshot& s, const FamilyOptions& o,
                    std::vector<MetricFamily>& out) {
  if (!s.gpu_sync.empty()) {
    MetricFamily sync = Family("lockaudit_gpu_sync_seconds",
                               "Duration of synchronising CUDA calls, by API and whether the "
                               "thread held audited locks.",
                               MetricType::Histogram);
    for (const stats::GpuSyncRow& r : s.gpu_sync) {
      AddHistogram(sync, {{"api", r.api}, {"under_lock", r.under_lock ? "true" : "false"}},
                   r.seconds, o.bucket_bounds);
    }
    out.push_back(std::move(sync));
  }
  if (!s.gpu_kernels.empty()) {
    const std::vector<stats::GpuKernelRow> kernels =
        Capped(s.gpu_kernels, &stats::GpuKernelRow::kernel, o.max_series, MergeKernel,
               [](const stats::GpuKernelRow& a, const stats::GpuKernelRow& b) {
                 return a.seconds.sum_ns > b.seconds.sum_ns;
               });
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

std::vector<MetricFamily> ToFamilies(const stats::Snapshot& snapshot, const FamilyOptions& options) {
  std::vector<MetricFamily> out;
  AddLockFamilies(snapshot, options, out);
  AddCondFamily(snapshot, options, out);
  AddEngineFamilies(snapshot, out);
  AddGpuFamilies(snapshot, options, out);
  return out;
}

}  // namespace lockaudit::exporters
