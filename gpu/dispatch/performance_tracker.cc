#include "performance_tracker.h"

#include <algorithm>
#include <cmath>

namespace lockaudit::gpu {

void PerformanceTracker::Window::Add(double v) {
  if (size == samples.size()) {
    sum -= samples[next];
  } else {
    ++size;
  }
  samples[next] = v;
  sum += v;
  next = (next + 1) % samples.size();
  // Recompute now and then: the running sum would otherwise drift by rounding.
  if (next == 0) {
    sum = 0;
    for (size_t i = 0; i < size; ++i) sum += samples[i];
  }
}

PerformanceTracker::PerformanceTracker(size_t window)
    : window_(std::max<size_t>(window, 1)), outcomes_(window_) {
  cpu_.samples.resize(window_);
  gpu_.samples.resize(window_);
}

void PerformanceTracker::RecordCpu(uint64_t ns, size_t items) {
  std::lock_guard<std::mutex> lock(mu_);
  if (items > 0) cpu_.Add(static_cast<double>(ns) / static_cast<double>(items));
  ++totals_.cpu_runs;
  ++totals_.version;
}

void PerformanceTracker::RecordGpuSuccess(uint64_t device_ns, size_t items) {
  std::lock_guard<std::mutex> lock(mu_);
  if (device_ns > 0 && items > 0) {
    gpu_.Add(static_cast<double>(device_ns) / static_cast<double>(items));
    ++totals_.gpu_timed;
  }
  AddOutcome(true);
  ++totals_.gpu_successes;
  ++totals_.version;
}

void PerformanceTracker::RecordGpuFailure(bool out_of_memory) {
  std::lock_guard<std::mutex> lock(mu_);
  AddOutcome(false);
  ++totals_.gpu_failures;
  if (out_of_memory) ++totals_.oom_count;
  ++totals_.version;
}

void PerformanceTracker::AddOutcome(bool success) {
  if (outcome_size_ == outcomes_.size()) {
    outcome_successes_ -= outcomes_[outcome_next_];
  } else {
    ++outcome_size_;
  }
  outcomes_[outcome_next_] = success ? 1 : 0;
  outcome_successes_ += success ? 1 : 0;
  outcome_next_ = (outcome_next_ + 1) % outcomes_.size();
}

TrackerSnapshot PerformanceTracker::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  TrackerSnapshot s = totals_;
  s.cpu_window = cpu_.size;
  s.gpu_window = gpu_.size;
  s.cpu_avg_ns = cpu_.Mean();
  s.gpu_avg_ns = gpu_.Mean();
  s.speedup = (s.cpu_window > 0 && s.gpu_window > 0 && s.gpu_avg_ns > 0) ? s.cpu_avg_ns / s.gpu_avg_ns : 0;
  s.outcome_window = outcome_size_;
  s.success_rate = outcome_size_ ? static_cast<double>(outcome_successes_) / static_cast<double>(outcome_size_) : 1;
  return s;
}

bool IsConsistent(const TrackerSnapshot& s, size_t window, std::string* why) {
  auto fail = [why](const char* what) {
    if (why) *why = what;
    return false;
  };
  if (s.version != s.cpu_runs + s.gpu_successes + s.gpu_failures) {
    return fail("version != cpu_runs + gpu_successes + gpu_failures");
  }
  if (s.oom_count > s.gpu_failures) return fail("oom_count > gpu_failures");
  if (s.gpu_timed > s.gpu_successes) return fail("gpu_timed > gpu_successes");
  if (s.gpu_window != std::min<uint64_t>(s.gpu_timed, window)) return fail("gpu_window != min(gpu_timed, window)");
  if (s.cpu_window > std::min<uint64_t>(s.cpu_runs, window)) return fail("cpu_window > min(cpu_runs, window)");
  if (s.outcome_window != std::min<uint64_t>(s.gpu_successes + s.gpu_failures, window)) {
    return fail("outcome_window != min(gpu attempts, window)");
  }
  const double want_speedup =
      (s.cpu_window > 0 && s.gpu_window > 0 && s.gpu_avg_ns > 0) ? s.cpu_avg_ns / s.gpu_avg_ns : 0;
  if (s.speedup != want_speedup) return fail("speedup != cpu_avg_ns / gpu_avg_ns");
  if (!(s.success_rate >= 0 && s.success_rate <= 1)) return fail("success_rate outside [0, 1]");
  if (s.outcome_window == 0 && s.success_rate != 1) return fail("success_rate != 1 without attempts");
  if (s.gpu_failures == 0 && s.success_rate != 1) return fail("success_rate != 1 without failures");
  if (s.gpu_successes == 0 && s.outcome_window > 0 && s.success_rate != 0) {
    return fail("success_rate != 0 without successes");
  }
  return true;
}

}  // namespace lockaudit::gpu
