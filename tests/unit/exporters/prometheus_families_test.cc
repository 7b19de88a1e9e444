// exporters/prometheus: snapshot -> metric families (families.h) and the listen address parser.
// Snapshots are built by hand here; the real engine feeds the same code in the integration tests
// (tests/integration/prometheus).
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "families.h"
#include "listen_address.h"

namespace lockaudit::exporters {
namespace {

namespace stats = core::stats;
using ::prometheus::ClientMetric;
using ::prometheus::MetricFamily;
using ::prometheus::MetricType;

// The engine's bounds (core/stats.cc): 256 ns, x4 per bucket.
FamilyOptions Options(size_t max_series) {
  FamilyOptions o;
  o.max_series = max_series;
  double b = 256e-9;
  for (int i = 0; i < stats::kBuckets; ++i, b *= 4) o.bucket_bounds.push_back(b);
  return o;
}

const MetricFamily* Find(const std::vector<MetricFamily>& fs, const std::string& name) {
  for (const MetricFamily& f : fs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string Label(const ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return "<none>";
}

std::map<std::string, const ClientMetric*> ByLabel(const MetricFamily& f, const std::string& label) {
  std::map<std::string, const ClientMetric*> out;
  for (const ClientMetric& m : f.metric) out[Label(m, label)] = &m;
  return out;
}

stats::LockRow Lock(std::string name, uint64_t acquisitions, uint64_t contentions) {
  stats::LockRow r;
  r.name = std::move(name);
  r.acquisitions = acquisitions;
  r.contentions = contentions;
  r.wait.counts[2] = contentions;
  r.wait.sum_ns = contentions * 3000;
  r.hold.counts[0] = acquisitions;
  r.hold.sum_ns = acquisitions * 100;
  return r;
}

TEST(PrometheusFamiliesTest, HistogramBucketsAreCumulativeWithInfAndSecondsSum) {
  stats::Snapshot s;
  stats::LockRow r = Lock("g_mu", 10, 4);
  r.wait = {};
  r.wait.counts[0] = 1;               // <= 256 ns
  r.wait.counts[3] = 2;               // <= 16.384 us
  r.wait.counts[stats::kBuckets] = 1; // above every finite bound
  r.wait.sum_ns = 30'000'000'000;     // 30 s
  s.locks.push_back(r);
  const auto fs = ToFamilies(s, Options(50));
  const MetricFamily* wait = Find(fs, "lockaudit_lock_wait_seconds");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->type, MetricType::Histogram);
  ASSERT_EQ(wait->metric.size(), 1u);
  const ClientMetric::Histogram& h = wait->metric[0].histogram;
  ASSERT_EQ(h.bucket.size(), static_cast<size_t>(stats::kBuckets + 1));
  const uint64_t want[] = {1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4};
  for (size_t i = 0; i < h.bucket.size(); ++i) {
    EXPECT_EQ(h.bucket[i].cumulative_count, want[i]) << "bucket " << i;
    if (i > 0) {
      EXPECT_GT(h.bucket[i].upper_bound, h.bucket[i - 1].upper_bound);
    }
  }
  EXPECT_DOUBLE_EQ(h.bucket[0].upper_bound, 256e-9);
  EXPECT_TRUE(std::isinf(h.bucket.back().upper_bound));
  EXPECT_EQ(h.sample_count, 4u);
  EXPECT_DOUBLE_EQ(h.sample_sum, 30.0);

  const std::string text = ::prometheus::TextSerializer().Serialize(fs);
  EXPECT_NE(text.find("lockaudit_lock_wait_seconds_bucket{lock=\"g_mu\",le=\"+Inf\"} 4"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("lockaudit_lock_contentions_total{lock=\"g_mu\"} 4"), std::string::npos);
  EXPECT_NE(text.find("# TYPE lockaudit_lock_acquisitions_total counter"), std::string::npos);
}

TEST(PrometheusFamiliesTest, LockLabelCappedByContentionRestSummedIntoOther) {
  stats::Snapshot s;
  for (int i = 0; i < 10; ++i) s.locks.push_back(Lock("lock" + std::to_string(i), 100 + i, i));
  const auto fs = ToFamilies(s, Options(3));
  for (const char* name : {"lockaudit_lock_acquisitions_total", "lockaudit_lock_contentions_total",
                           "lockaudit_lock_wait_seconds", "lockaudit_lock_hold_sampled_seconds"}) {
    const MetricFamily* f = Find(fs, name);
    ASSERT_NE(f, nullptr) << name;
    std::set<std::string> labels;
    for (const ClientMetric& m : f->metric) labels.insert(Label(m, "lock"));
    EXPECT_EQ(labels, (std::set<std::string>{"lock9", "lock8", "lock7", "other"})) << name;
  }
  auto acq = ByLabel(*Find(fs, "lockaudit_lock_acquisitions_total"), "lock");
  auto con = ByLabel(*Find(fs, "lockaudit_lock_contentions_total"), "lock");
  auto wait = ByLabel(*Find(fs, "lockaudit_lock_wait_seconds"), "lock");
  // other = lock0..lock6
  EXPECT_DOUBLE_EQ(acq["other"]->counter.value, 100 + 101 + 102 + 103 + 104 + 105 + 106);
  EXPECT_DOUBLE_EQ(con["other"]->counter.value, 0 + 1 + 2 + 3 + 4 + 5 + 6);
  EXPECT_EQ(wait["other"]->histogram.sample_count, 21u);
  EXPECT_DOUBLE_EQ(con["lock9"]->counter.value, 9);
  // Nothing lost: totals equal the snapshot's.
  double total = 0;
  for (auto& [n, m] : acq) total += m->counter.value;
  EXPECT_DOUBLE_EQ(total, 10 * 100 + 45);
}

TEST(PrometheusFamiliesTest, TiesOnContentionGoToMoreAcquisitionsThenName) {
  stats::Snapshot s;
  s.locks = {Lock("b", 5, 0), Lock("a", 5, 0), Lock("c", 9, 0)};
  const auto fs = ToFamilies(s, Options(2));
  std::set<std::string> labels;
  for (const ClientMetric& m : Find(fs, "lockaudit_lock_acquisitions_total")->metric) {
    labels.insert(Label(m, "lock"));
  }
  EXPECT_EQ(labels, (std::set<std::string>{"c", "a", "other"}));
}

TEST(PrometheusFamiliesTest, SameNameRowsAreOneSeriesAndALockNamedOtherJoinsOther) {
  stats::Snapshot s;
  s.locks = {Lock("heap@f (a.cc:1)", 2, 1), Lock("heap@f (a.cc:1)", 3, 1), Lock("other", 7, 5),
             Lock("x", 1, 0)};
  const auto fs = ToFamilies(s, Options(50));
  auto acq = ByLabel(*Find(fs, "lockaudit_lock_acquisitions_total"), "lock");
  ASSERT_EQ(acq.size(), 3u);
  EXPECT_DOUBLE_EQ(acq["heap@f (a.cc:1)"]->counter.value, 5);
  EXPECT_DOUBLE_EQ(acq["other"]->counter.value, 7);
  EXPECT_EQ(Find(fs, "lockaudit_lock_acquisitions_total")->metric.back().label[0].value, "other");
}

TEST(PrometheusFamiliesTest, TenThousandLocksGiveAtMostMaxSeriesPlusOne) {
  stats::Snapshot s;
  for (int i = 0; i < 10000; ++i) s.locks.push_back(Lock("l" + std::to_string(i), 1, i % 7));
  s.conds.resize(5000);
  for (int i = 0; i < 5000; ++i) {
    s.conds[i].name = "c" + std::to_string(i);
    s.conds[i].wake.counts[1] = i % 13;
  }
  for (size_t max : {size_t{0}, size_t{1}, size_t{50}}) {
    const auto fs = ToFamilies(s, Options(max));
    for (const MetricFamily& f : fs) {
      if (f.type == MetricType::Gauge) continue;  // lockaudit_lock_hold_sample_period: no label
      if (f.name.find("lock_") != std::string::npos || f.name.find("cond_") != std::string::npos) {
        EXPECT_EQ(f.metric.size(), max + 1) << f.name << " max " << max;
      }
    }
  }
}

TEST(PrometheusFamiliesTest, CondLabelCappedByWakeCount) {
  stats::Snapshot s;
  for (int i = 0; i < 4; ++i) {
    stats::CondRow c;
    c.name = "cv" + std::to_string(i);
    c.wake.counts[5] = 10 * i;
    s.conds.push_back(c);
  }
  const auto fs = ToFamilies(s, Options(2));
  auto wake = ByLabel(*Find(fs, "lockaudit_cond_wake_latency_seconds"), "cond");
  EXPECT_EQ(wake.size(), 3u);
  EXPECT_EQ(wake.count("cv3"), 1u);
  EXPECT_EQ(wake.count("cv2"), 1u);
  EXPECT_EQ(wake["other"]->histogram.sample_count, 10u);
}

TEST(PrometheusFamiliesTest, FixedFamiliesAlwaysOptionalOnesOnlyWithData) {
  stats::Snapshot s;
  s.wait_stalls = 2;
  s.hold_stalls = 3;
  s.findings = {{"lock_order_cycle", 1}, {"deadlock", 0}};
  s.graph_locks = 7;
  s.graph_edges = 4;
  s.threads = 5;
  auto fs = ToFamilies(s, Options(50));
  for (const char* absent : {"lockaudit_lock_acquisitions_total", "lockaudit_cond_wake_latency_seconds",
                             "lockaudit_gpu_sync_seconds", "lockaudit_gpu_kernel_seconds",
                             "lockaudit_dispatch_total"}) {
    EXPECT_EQ(Find(fs, absent), nullptr) << absent;
  }
  auto stalls = ByLabel(*Find(fs, "lockaudit_stalls_total"), "kind");
  EXPECT_DOUBLE_EQ(stalls["wait"]->counter.value, 2);
  EXPECT_DOUBLE_EQ(stalls["hold"]->counter.value, 3);
  auto findings = ByLabel(*Find(fs, "lockaudit_findings_total"), "kind");
  EXPECT_DOUBLE_EQ(findings["lock_order_cycle"]->counter.value, 1);
  EXPECT_DOUBLE_EQ(findings["deadlock"]->counter.value, 0);
  EXPECT_DOUBLE_EQ(Find(fs, "lockaudit_graph_locks")->metric[0].gauge.value, 7);
  EXPECT_DOUBLE_EQ(Find(fs, "lockaudit_graph_edges")->metric[0].gauge.value, 4);
  EXPECT_EQ(Find(fs, "lockaudit_threads")->type, MetricType::Gauge);
  EXPECT_DOUBLE_EQ(Find(fs, "lockaudit_threads")->metric[0].gauge.value, 5);

  stats::GpuSyncRow sync;
  sync.api = "cudaStreamSynchronize";
  sync.under_lock = true;
  sync.seconds.counts[8] = 3;
  s.gpu_sync.push_back(sync);
  stats::GpuKernelRow kernel;
  kernel.kernel = "saxpy";
  kernel.seconds.counts[4] = 1;
  s.gpu_kernels.push_back(kernel);
  s.dispatch_gpu = 4;
  fs = ToFamilies(s, Options(50));
  const MetricFamily* gs = Find(fs, "lockaudit_gpu_sync_seconds");
  ASSERT_NE(gs, nullptr);
  EXPECT_EQ(Label(gs->metric[0], "api"), "cudaStreamSynchronize");
  EXPECT_EQ(Label(gs->metric[0], "under_lock"), "true");
  EXPECT_EQ(gs->metric[0].histogram.sample_count, 3u);
  ASSERT_NE(Find(fs, "lockaudit_gpu_kernel_seconds"), nullptr);
  auto dispatch = ByLabel(*Find(fs, "lockaudit_dispatch_total"), "target");
  EXPECT_DOUBLE_EQ(dispatch["cpu"]->counter.value, 0);
  EXPECT_DOUBLE_EQ(dispatch["gpu"]->counter.value, 4);
}

// Every value of every counter/histogram series of `now` is at least that of the same series in
// `before`; no series of `before` is missing from `now`.
void ExpectMonotonic(const std::vector<MetricFamily>& before, const std::vector<MetricFamily>& now,
                     const std::string& when) {
  for (const MetricFamily& fb : before) {
    if (fb.type != MetricType::Counter && fb.type != MetricType::Histogram) continue;
    const MetricFamily* fn = Find(now, fb.name);
    ASSERT_NE(fn, nullptr) << fb.name << " vanished " << when;
    for (const ClientMetric& mb : fb.metric) {
      const ClientMetric* mn = nullptr;
      for (const ClientMetric& m : fn->metric) {
        if (m.label.size() == mb.label.size() &&
            std::equal(m.label.begin(), m.label.end(), mb.label.begin(),
                       [](const auto& a, const auto& b) { return a.name == b.name && a.value == b.value; })) {
          mn = &m;
        }
      }
      const std::string series = fb.name + "{" + (mb.label.empty() ? "" : mb.label[0].value) + "}";
      ASSERT_NE(mn, nullptr) << series << " vanished " << when;
      if (fb.type == MetricType::Counter) {
        EXPECT_GE(mn->counter.value, mb.counter.value) << series << " went down " << when;
        continue;
      }
      EXPECT_GE(mn->histogram.sample_count, mb.histogram.sample_count) << series << " " << when;
      EXPECT_GE(mn->histogram.sample_sum, mb.histogram.sample_sum) << series << " " << when;
      for (size_t i = 0; i < mb.histogram.bucket.size(); ++i) {
        EXPECT_GE(mn->histogram.bucket[i].cumulative_count, mb.histogram.bucket[i].cumulative_count)
            << series << " bucket " << i << " " << when;
      }
    }
  }
}

TEST(PrometheusFamilyBuilderTest, ChangingRankingKeepsSeriesAndNoCounterGoesDown) {
  // Six locks, two series: the hottest lock changes every "scrape", as in a program with phases.
  FamilyBuilder b(Options(2));
  std::vector<stats::LockRow> rows;
  for (int i = 0; i < 6; ++i) rows.push_back(Lock("phase" + std::to_string(i), 10, 0));
  rows[0].contentions = 5;
  rows[1].contentions = 3;
  std::vector<MetricFamily> before;
  std::set<std::string> first_labels;
  for (int scrape = 0; scrape < 12; ++scrape) {
    const int hot = scrape % 6;
    rows[hot].contentions += 1000 * (scrape + 1);  // the last phase's lock ends up hottest
    rows[hot].acquisitions += 5000;
    rows[hot].wait.counts[4] += 1000;
    rows[hot].wait.sum_ns += 1000 * 40000;
    rows[hot].hold.counts[1] += 40;
    stats::Snapshot s;
    s.locks = rows;
    s.hold_sample_period = 128;
    const auto now = b.Build(s);
    std::set<std::string> labels;
    for (const ClientMetric& m : Find(now, "lockaudit_lock_contentions_total")->metric) {
      labels.insert(Label(m, "lock"));
    }
    if (scrape == 0) {
      first_labels = labels;
      EXPECT_EQ(labels, (std::set<std::string>{"phase0", "phase1", "other"}));
    }
    EXPECT_EQ(labels, first_labels) << "scrape " << scrape;
    if (!before.empty()) ExpectMonotonic(before, now, "at scrape " + std::to_string(scrape));
    // Nothing lost: the series add up to the engine's total.
    double total = 0, want = 0;
    for (const ClientMetric& m : Find(now, "lockaudit_lock_contentions_total")->metric) total += m.counter.value;
    for (const auto& r : rows) want += static_cast<double>(r.contentions);
    EXPECT_DOUBLE_EQ(total, want) << "scrape " << scrape;
    before = now;
  }
  // A one-shot ranking of the last snapshot would have picked other locks: the sticky set matters.
  stats::Snapshot last;
  last.locks = rows;
  std::set<std::string> one_shot;
  const auto one_shot_families = ToFamilies(last, Options(2));
  for (const ClientMetric& m : Find(one_shot_families, "lockaudit_lock_contentions_total")->metric) {
    one_shot.insert(Label(m, "lock"));
  }
  EXPECT_NE(one_shot, first_labels);
}

TEST(PrometheusFamilyBuilderTest, NewLocksGetSeriesWhileThereIsRoomThenJoinOther) {
  FamilyBuilder b(Options(3));
  stats::Snapshot s;
  s.locks = {Lock("a", 1, 0)};
  auto fs = b.Build(s);
  EXPECT_EQ(ByLabel(*Find(fs, "lockaudit_lock_acquisitions_total"), "lock").size(), 1u);
  s.locks.push_back(Lock("b", 1, 0));
  s.locks.push_back(Lock("c", 1, 0));
  s.locks.push_back(Lock("d", 9, 9));  // room for two of the three new ones: d (hottest), then b
  fs = b.Build(s);
  auto acq = ByLabel(*Find(fs, "lockaudit_lock_acquisitions_total"), "lock");
  EXPECT_EQ(acq.size(), 4u);
  for (const char* own : {"a", "b", "d", "other"}) EXPECT_EQ(acq.count(own), 1u) << own;
  EXPECT_DOUBLE_EQ(acq["other"]->counter.value, 1);  // c
  s.locks.push_back(Lock("e", 500, 400));  // hotter than all, but the set is full: other
  fs = b.Build(s);
  acq = ByLabel(*Find(fs, "lockaudit_lock_acquisitions_total"), "lock");
  EXPECT_EQ(acq.count("e"), 0u);
  EXPECT_DOUBLE_EQ(acq["other"]->counter.value, 501);
}

TEST(PrometheusFamilyBuilderTest, ASeriesWhoseLockIsGoneKeepsItsLastValues) {
  FamilyBuilder b(Options(50));
  stats::Snapshot s;
  s.locks = {Lock("gone", 40, 4), Lock("stays", 5, 1)};
  s.conds.resize(1);
  s.conds[0].name = "cv";
  s.conds[0].wake.counts[3] = 7;
  s.conds[0].budget_violations = 2;
  const auto before = b.Build(s);
  s.locks = {Lock("stays", 6, 1)};  // e.g. a row renamed or summed elsewhere by the engine
  s.conds[0].budget_violations = 1;  // must not show as a decrease either
  const auto now = b.Build(s);
  ExpectMonotonic(before, now, "after the lock went");
  auto acq = ByLabel(*Find(now, "lockaudit_lock_acquisitions_total"), "lock");
  EXPECT_DOUBLE_EQ(acq["gone"]->counter.value, 40);
  auto budget = ByLabel(*Find(now, "lockaudit_cond_wake_budget_violations_total"), "cond");
  EXPECT_DOUBLE_EQ(budget["cv"]->counter.value, 2);
}

TEST(PrometheusFamilyBuilderTest, NewFamiliesBlockedDeadlockedHoldPeriodGpuAndBuildInfo) {
  FamilyOptions o = Options(50);
  o.version = "9.8.7";
  FamilyBuilder b(o);
  stats::Snapshot s;
  s.locks = {Lock("mu", 10, 2)};
  s.locks[0].gpu_sync_ns = 2'500'000'000;
  s.threads_blocked = 3;
  s.threads_deadlocked = 2;
  s.hold_sample_period = 128;
  auto fs = b.Build(s);
  EXPECT_EQ(Find(fs, "lockaudit_lock_gpu_sync_seconds_total"), nullptr) << "no CUDA sync traced yet";
  EXPECT_DOUBLE_EQ(Find(fs, "lockaudit_threads_blocked")->metric[0].gauge.value, 3);
  EXPECT_DOUBLE_EQ(Find(fs, "lockaudit_threads_deadlocked")->metric[0].gauge.value, 2);
  EXPECT_DOUBLE_EQ(Find(fs, "lockaudit_lock_hold_sample_period")->metric[0].gauge.value, 128);
  EXPECT_EQ(Find(fs, "lockaudit_lock_hold_seconds"), nullptr) << "the sampled histogram says so";
  ASSERT_NE(Find(fs, "lockaudit_lock_hold_sampled_seconds"), nullptr);
  const MetricFamily* info = Find(fs, "lockaudit_build_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(Label(info->metric[0], "version"), "9.8.7");
  EXPECT_DOUBLE_EQ(info->metric[0].gauge.value, 1);
  stats::GpuSyncRow sync;
  sync.api = "cudaDeviceSynchronize";
  sync.under_lock = true;
  sync.seconds.counts[9] = 1;
  s.gpu_sync.push_back(sync);
  fs = b.Build(s);
  const MetricFamily* gpu = Find(fs, "lockaudit_lock_gpu_sync_seconds_total");
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->type, MetricType::Counter);
  EXPECT_DOUBLE_EQ(ByLabel(*gpu, "lock")["mu"]->counter.value, 2.5);
  s.gpu_sync.clear();  // the engine never forgets them; the builder would not either
  ExpectMonotonic(fs, b.Build(s), "after the GPU rows went");
}

TEST(PrometheusFamilyBuilderTest, ChannelFamiliesGaugesFollowCountersNeverGoDown) {
  FamilyBuilder b(Options(1));
  stats::Snapshot s;
  auto fs = b.Build(s);
  EXPECT_EQ(Find(fs, "lockaudit_channel_depth"), nullptr) << "no channel yet";
  stats::ChannelRow jobs;
  jobs.name = "jobs";
  jobs.capacity = 8;
  jobs.depth = 8;
  jobs.waiting_send = 2;
  jobs.sent = 100;
  jobs.received = 92;
  jobs.send_wait.counts[5] = 3;
  jobs.send_wait.sum_ns = 3 * 60000;
  stats::ChannelRow other = jobs;
  other.name = "logs";
  other.sent = 10;
  s.channels = {jobs, other};
  fs = b.Build(s);
  for (const char* name : {"lockaudit_channel_depth", "lockaudit_channel_capacity",
                           "lockaudit_channel_waiting_threads", "lockaudit_channel_items_total",
                           "lockaudit_channel_wait_seconds"}) {
    ASSERT_NE(Find(fs, name), nullptr) << name;
  }
  // max_series 1: the busiest (by items sent) has its own series, the other is "other".
  auto depth = ByLabel(*Find(fs, "lockaudit_channel_depth"), "channel");
  ASSERT_EQ(depth.size(), 2u);
  EXPECT_DOUBLE_EQ(depth["jobs"]->gauge.value, 8);
  EXPECT_DOUBLE_EQ(depth[kOtherSeries]->gauge.value, 8);
  const MetricFamily* items = Find(fs, "lockaudit_channel_items_total");
  EXPECT_EQ(items->type, MetricType::Counter);
  double sent = 0;
  for (const ClientMetric& m : items->metric) {
    if (Label(m, "channel") == "jobs" && Label(m, "op") == "send") sent = m.counter.value;
  }
  EXPECT_DOUBLE_EQ(sent, 100);
  // The channel drains and is destroyed: gauges fall to 0, counters and buckets stay.
  s.channels = {};
  const auto now = b.Build(s);
  ExpectMonotonic(fs, now, "after the channels went");
  depth = ByLabel(*Find(now, "lockaudit_channel_depth"), "channel");
  EXPECT_DOUBLE_EQ(depth["jobs"]->gauge.value, 0);
}

TEST(ListenAddressTest, AcceptsPortHostPortAndIpv6) {
  std::string why;
  auto a = ParseListenAddress("9464", &why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->Civetweb(), "127.0.0.1:9464");
  EXPECT_EQ(a->Url(9464), "http://127.0.0.1:9464/metrics");
  a = ParseListenAddress(":0", &why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->Civetweb(), "127.0.0.1:0");
  EXPECT_EQ(a->Url(41234), "http://127.0.0.1:41234/metrics");
  a = ParseListenAddress("0.0.0.0:9464", &why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->Civetweb(), "0.0.0.0:9464");
  a = ParseListenAddress("localhost:80", &why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->Civetweb(), "127.0.0.1:80");
  a = ParseListenAddress("[::1]:9464", &why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->Civetweb(), "[::1]:9464");
  EXPECT_EQ(a->Url(9464), "http://[::1]:9464/metrics");
}

TEST(ListenAddressTest, RejectsWhatCivetwebWouldMisread) {
  for (const char* bad : {"", "abc", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "9464s",
                          "9464r", "127.0.0.1:9464,127.0.0.1:9465", "example.com:9464",
                          "[::1]9464", "[zz]:9464", "1.2.3:9464", " 9464"}) {
    std::string why;
    EXPECT_FALSE(ParseListenAddress(bad, &why)) << "'" << bad << "'";
    EXPECT_FALSE(why.empty()) << bad;
  }
}

}  // namespace
}  // namespace lockaudit::exporters
