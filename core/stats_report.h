// core/stats_report: the engine's lock and condition-variable statistics (core/stats.h, the same
// numbers the metrics export) written into the JSON report at exit, so that a report alone
// shows wait and hold times and wake latency (`lock_stats` and `cond_stats` lines,
// docs/report.md; the HTML report's tables).
//
// Thread-safety: called once, by Finish() at exit, inside the engine (it calls stats::Collect()).
// Cost: one Collect() and one line per row, at exit only.
#ifndef LOCKAUDIT_CORE_STATS_REPORT_H_
#define LOCKAUDIT_CORE_STATS_REPORT_H_

#include <cstddef>

namespace lockaudit::core::stats {

// At most this many lines of each kind: locks ranked by total wait, then acquisitions;
// condition variables by wakes.
inline constexpr size_t kMaxReportRows = 256;

void WriteReportLines();

}  // namespace lockaudit::core::stats

#endif  // LOCKAUDIT_CORE_STATS_REPORT_H_
