// gpu/dispatch/hybrid_executor: runs batched cosine similarity on the CPU or the GPU, batch by
// batch, from measured performance.
//
// Each call takes ONE PerformanceTracker snapshot and decides from it alone (Decide(), a pure
// function of snapshot, configuration, batch size and GPU presence), in this order:
//   forced-CPU mode -> CPU; batch below min_gpu_batch -> CPU; no GPU -> CPU;
//   GPU success rate below min_success_rate -> CPU; fewer than warmup_samples CPU timings -> CPU
//   (measure it); fewer than warmup_samples GPU timings -> GPU (measure it);
//   speedup below min_speedup -> CPU; otherwise GPU.
// A failed GPU run is recorded (failure, OOM) and the batch is computed on the CPU, so the caller
// always gets a result. Each decision goes to the engine as lockaudit_dispatch_total{target}.
// Note: a GPU whose recent success rate fell below the threshold is not tried again until the
// tracker is replaced (no probing): failures on a device are rarely transient.
//
// Thread-safety: CosineSimilarity() may be called from many threads at once; the executor has no
// mutable state of its own, the tracker has its one lock, and no lock is held while computing.
// Cost: one snapshot and one update of the tracker per call, plus the work.
#ifndef LOCKAUDIT_GPU_DISPATCH_HYBRID_EXECUTOR_H_
#define LOCKAUDIT_GPU_DISPATCH_HYBRID_EXECUTOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gpu_backend.h"
#include "performance_tracker.h"

namespace lockaudit::gpu {

struct DispatchConfig {
  size_t min_gpu_batch = 1024;     // smaller batches never go to the GPU
  double min_speedup = 1.5;        // GPU must be this much faster per item
  double min_success_rate = 0.9;   // share of recent GPU attempts that must have succeeded
  size_t warmup_samples = 3;       // timings each side needs before the speedup rule applies
  bool force_cpu = false;
};

enum class DispatchReason : uint8_t {
  kForcedCpu,
  kBatchTooSmall,
  kNoGpu,
  kLowSuccessRate,
  kWarmupCpu,
  kWarmupGpu,
  kGpuTooSlow,
  kGpuFaster,
};
const char* ReasonName(DispatchReason r) noexcept;

struct Decision {
  bool to_gpu = false;
  DispatchReason reason = DispatchReason::kNoGpu;
};

Decision Decide(const TrackerSnapshot& s, const DispatchConfig& config, size_t batch,
                bool gpu_available) noexcept;

struct BatchResult {
  std::vector<float> scores;   // one per vector
  Decision decision;
  TrackerSnapshot snapshot;    // the one snapshot the decision was made from
  bool ran_on_gpu = false;     // false also when the GPU run failed and the CPU computed it
};

class HybridExecutor {
 public:
  // `gpu` may be null (CPU only); it and `tracker` must outlive the executor.
  HybridExecutor(GpuBackend* gpu, PerformanceTracker* tracker, DispatchConfig config = {});

  // Cosine similarity of `query` (dim floats) with `count` vectors (count x dim floats).
  BatchResult CosineSimilarity(const float* query, const float* vectors, size_t count, size_t dim);

  const DispatchConfig& config() const { return config_; }

 private:
  GpuBackend* const gpu_;
  PerformanceTracker* const tracker_;
  const DispatchConfig config_;
};

}  // namespace lockaudit::gpu

#endif  // LOCKAUDIT_GPU_DISPATCH_HYBRID_EXECUTOR_H_
