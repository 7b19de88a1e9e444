// ToFamilies: one engine statistics snapshot (core/stats.h) -> the Prometheus metric families of
// DESIGN.md §6, ready for prometheus-cpp's text serializer.
//
// Contract kept here:
//  * names in base units (seconds), counters end in _total; histograms carry cumulative buckets
//    with the engine's fixed bounds plus +Inf, _sum in seconds and _count;
//  * the `lock` label has at most `max_series` distinct values per family: the locks with the
//    most contentions (ties: more acquisitions, then name) keep their name, all others are summed
//    into one `lock="other"` series. Every lock family uses the same chosen set, so ratios across
//    families line up. `cond` is capped the same way by wake count, `kernel` by kernel time.
//    A family therefore never has more than max_series + 1 series per label value of its other
//    labels (there are none for lock/cond/kernel);
//  * families without data are left out (no locks, no condvars, no GPU, no dispatcher), except
//    the fixed-label ones that are always meaningful: stalls, findings, graph size, threads.
//
// Thread-safety: a pure function of its arguments. Cost: O(rows log rows + series x buckets).
#ifndef LOCKAUDIT_EXPORTERS_PROMETHEUS_FAMILIES_H_
#define LOCKAUDIT_EXPORTERS_PROMETHEUS_FAMILIES_H_

#include <prometheus/metric_family.h>

#include <cstddef>
#include <vector>

#include "stats.h"

namespace lockaudit::exporters {

inline constexpr char kOtherSeries[] = "other";

struct FamilyOptions {
  size_t max_series = 50;               // LOCKAUDIT_MAX_SERIES
  std::vector<double> bucket_bounds;    // finite upper bounds in seconds, ascending
};

std::vector<::prometheus::MetricFamily> ToFamilies(const core::stats::Snapshot& snapshot,
                                                   const FamilyOptions& options);

}  // namespace lockaudit::exporters

#endif  // LOCKAUDIT_EXPORTERS_PROMETHEUS_FAMILIES_H_
