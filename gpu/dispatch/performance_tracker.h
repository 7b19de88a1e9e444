// gpu/dispatch/performance_tracker: the measurements the hybrid dispatcher decides on.
//
// PerformanceTracker keeps, under ONE lock: a window of recent CPU latencies and one of GPU
// latencies (nanoseconds per item, so batches of different sizes compare), the outcomes of recent
// GPU attempts (success/failure) and running totals including out-of-memory events. Snapshot()
// copies everything under that lock, so a decision made from one snapshot sees one state: never
// the CPU average of one moment with the GPU average or success rate of another.
//
// Thread-safety: every member function may be called concurrently.
// Invariants (IsConsistent(), checked by the tests on every snapshot they take):
//   version == cpu_runs + gpu_successes + gpu_failures (each update bumps it exactly once);
//   oom_count <= gpu_failures; cpu_window == min(cpu_runs, window) and likewise for the GPU
//   (successes with a device time); speedup == cpu_avg / gpu_avg when both windows have samples,
//   else 0; success_rate is the share of successes among the last `window` GPU attempts, 1 when
//   there was none.
// Cost: O(1) per update and per snapshot; the lock is held for a few dozen instructions.
#ifndef LOCKAUDIT_GPU_DISPATCH_PERFORMANCE_TRACKER_H_
#define LOCKAUDIT_GPU_DISPATCH_PERFORMANCE_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace lockaudit::gpu {

struct TrackerSnapshot {
  uint64_t version = 0;        // updates applied so far
  uint64_t cpu_runs = 0;       // totals since construction
  uint64_t gpu_successes = 0;
  uint64_t gpu_failures = 0;
  uint64_t oom_count = 0;
  uint64_t gpu_timed = 0;      // successes that carried a device time
  size_t cpu_window = 0;       // samples behind cpu_avg_ns
  size_t gpu_window = 0;       // samples behind gpu_avg_ns
  double cpu_avg_ns = 0;       // mean ns per item over the window (0 when empty)
  double gpu_avg_ns = 0;
  double speedup = 0;          // cpu_avg_ns / gpu_avg_ns; 0 when either is unknown
  double success_rate = 1;     // over the last `window` GPU attempts; 1 when none
  size_t outcome_window = 0;   // GPU attempts behind success_rate
};

// Checks the invariants above for a snapshot of a tracker with window size `window`.
// Returns true, or false with the first violated one in *why.
bool IsConsistent(const TrackerSnapshot& s, size_t window, std::string* why);

class PerformanceTracker {
 public:
  static constexpr size_t kDefaultWindow = 32;
  explicit PerformanceTracker(size_t window = kDefaultWindow);

  // A CPU run of `items` items took `ns` (items == 0 counts the run, adds no sample).
  void RecordCpu(uint64_t ns, size_t items);
  // A GPU run succeeded; `device_ns` == 0: not timed (counts for the success rate only).
  void RecordGpuSuccess(uint64_t device_ns, size_t items);
  // A GPU run failed; `out_of_memory` when the device could not allocate.
  void RecordGpuFailure(bool out_of_memory);

  TrackerSnapshot Snapshot() const;
  size_t window() const { return window_; }

 private:
  // A fixed-size ring of samples with its running sum.
  struct Window {
    std::vector<double> samples;
    size_t next = 0, size = 0;
    double sum = 0;
    void Add(double v);
    double Mean() const { return size ? sum / static_cast<double>(size) : 0; }
  };

  const size_t window_;
  mutable std::mutex mu_;
  Window cpu_;                   // guarded by mu_
  Window gpu_;                   // guarded by mu_
  std::vector<uint8_t> outcomes_;  // ring of 1 (success) / 0 (failure), guarded by mu_
  size_t outcome_next_ = 0, outcome_size_ = 0, outcome_successes_ = 0;  // guarded by mu_
  TrackerSnapshot totals_;       // the counters and version, guarded by mu_

  void AddOutcome(bool success);  // needs mu_
};

}  // namespace lockaudit::gpu

#endif  // LOCKAUDIT_GPU_DISPATCH_PERFORMANCE_TRACKER_H_
