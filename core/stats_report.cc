#include "stats_report.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "report.h"
#include "stats.h"

namespace lockaudit::core::stats {
namespace {

std::string Ns(double seconds) {
  return std::to_string(static_cast<uint64_t>(std::llround(std::max(0.0, seconds) * 1e9)));
}

// {count, sum_ns, p50_ns, p90_ns, p99_ns}: quantiles interpolated inside the histogram's
// buckets (x4 apart), as Prometheus' histogram_quantile() does, and never above the sum (no
// observation is larger: with one observation every quantile is exact).
std::string HistogramJson(const Histogram& h) {
  const double sum = static_cast<double>(h.sum_ns) / 1e9;
  auto q = [&](double p) { return Ns(std::min(sum, Quantile(h, p))); };
  return "{\"count\":" + std::to_string(h.Count()) + ",\"sum_ns\":" + std::to_string(h.sum_ns) +
         ",\"p50_ns\":" + q(0.5) + ",\"p90_ns\":" + q(0.9) + ",\"p99_ns\":" + q(0.99) + "}";
}

}  // namespace

void WriteReportLines() {
  if (!JsonReportOn()) return;
  Snapshot snap = Collect();
  const std::string pid = std::to_string(getpid());
  std::vector<const LockRow*> locks;
  for (const LockRow& row : snap.locks) {
    if (row.acquisitions != 0) locks.push_back(&row);
  }
  std::sort(locks.begin(), locks.end(), [](const LockRow* a, const LockRow* b) {
    if (a->wait.sum_ns != b->wait.sum_ns) return a->wait.sum_ns > b->wait.sum_ns;
    if (a->acquisitions != b->acquisitions) return a->acquisitions > b->acquisitions;
    return a->name < b->name;
  });
  const std::string period = std::to_string(snap.hold_sample_period);
  for (size_t i = 0; i < locks.size() && i < kMaxReportRows; ++i) {
    const LockRow& r = *locks[i];
    std::string line = "{\"type\":\"lock_stats\",\"pid\":";
    line += pid;
    line += ",\"lock\":\"" + JsonEscape(r.name);
    line += "\",\"acquisitions\":" + std::to_string(r.acquisitions);
    line += ",\"contentions\":" + std::to_string(r.contentions);
    line += ",\"wait\":" + HistogramJson(r.wait);
    line += ",\"hold\":" + HistogramJson(r.hold);
    line += ",\"hold_sample_period\":" + period;
    if (r.rwlock) {
      line += ",\"shared_acquisitions\":" + std::to_string(r.shared_acquisitions);
      line += ",\"shared_contentions\":" + std::to_string(r.shared_contentions);
    }
    PublishLine(line + "}");
  }
  std::vector<const CondRow*> conds;
  for (const CondRow& row : snap.conds) {
    if (row.wake.Count() != 0) conds.push_back(&row);
  }
  std::sort(conds.begin(), conds.end(), [](const CondRow* a, const CondRow* b) {
    if (a->wake.Count() != b->wake.Count()) return a->wake.Count() > b->wake.Count();
    return a->name < b->name;
  });
  for (size_t i = 0; i < conds.size() && i < kMaxReportRows; ++i) {
    const CondRow& r = *conds[i];
    PublishLine("{\"type\":\"cond_stats\",\"pid\":" + pid + ",\"cond\":\"" + JsonEscape(r.name) +
                "\",\"wake\":" + HistogramJson(r.wake) +
                ",\"budget_violations\":" + std::to_string(r.budget_violations) + "}");
  }
}

}  // namespace lockaudit::core::stats
