// FamilyBuilder: engine statistics snapshots (core/stats.h) -> the Prometheus metric families
// documented in docs/metrics.md, ready for prometheus-cpp's text serializer. One builder serves
// every scrape of a process: it remembers which label values have their own series.
//
// Contract kept here:
//  * names in base units (seconds), counters end in _total; histograms carry cumulative buckets
//    with the engine's fixed bounds plus +Inf, _sum in seconds and _count;
//  * the `lock` label has at most `max_series` distinct values per family besides "other". The
//    first scrape that sees more than max_series locks gives their own series to those with the
//    most contentions (ties: more acquisitions, then name); a lock seen while fewer than
//    max_series have their own series gets one. Once a lock has its own series it keeps it for
//    the life of the process (also when its lock is gone), and every other lock is summed into
//    `lock="other"`, so no series moves between "other" and its own, and a ranking that changes
//    never shows up as a counter reset. Every lock family uses the same chosen set, so ratios
//    across families line up. `cond` (by wake count) and `kernel` (by kernel time) likewise;
//  * no exported counter, histogram bucket, _count or _sum ever decreases between two scrapes
//    of one builder: each exported value is the maximum of what the engine reports now and what
//    was exported before (the engine's own sums never go down either, core/stats.h);
//  * families without data are left out (no locks, no condvars, no GPU, no dispatcher), except
//    the fixed-label ones that are always meaningful: stalls, findings, graph size, threads,
//    build info.
//
// Thread-safety: Build() is not reentrant (the exporter calls it under its scrape mutex);
// ToFamilies() is a pure function. Cost: O(rows log rows + series x buckets) per scrape; the
// remembered state is bounded by 3 x (max_series + 1) rows.
#ifndef LOCKAUDIT_EXPORTERS_PROMETHEUS_FAMILIES_H_
#define LOCKAUDIT_EXPORTERS_PROMETHEUS_FAMILIES_H_

#include <prometheus/metric_family.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "stats.h"

namespace lockaudit::exporters {

inline constexpr char kOtherSeries[] = "other";

struct FamilyOptions {
  size_t max_series = 50;               // LOCKAUDIT_MAX_SERIES
  std::vector<double> bucket_bounds;    // finite upper bounds in seconds, ascending
  std::string version = "unknown";      // lockaudit_build_info{version}
};

class FamilyBuilder {
 public:
  explicit FamilyBuilder(FamilyOptions options);
  ~FamilyBuilder();
  FamilyBuilder(const FamilyBuilder&) = delete;
  FamilyBuilder& operator=(const FamilyBuilder&) = delete;

  std::vector<::prometheus::MetricFamily> Build(const core::stats::Snapshot& snapshot);

  struct State;  // the chosen series and the values exported last (families.cc)

 private:
  FamilyOptions options_;
  std::unique_ptr<State> state_;
};

// One scrape with no history: FamilyBuilder(options).Build(snapshot).
std::vector<::prometheus::MetricFamily> ToFamilies(const core::stats::Snapshot& snapshot,
                                                   const FamilyOptions& options);

}  // namespace lockaudit::exporters

#endif  // LOCKAUDIT_EXPORTERS_PROMETHEUS_FAMILIES_H_
