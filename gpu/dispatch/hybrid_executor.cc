#include "hybrid_executor.h"

#include <chrono>

#include "cosine.h"
#include "engine_bridge.h"

namespace lockaudit::gpu {

const char* ReasonName(DispatchReason r) noexcept {
  switch (r) {
    case DispatchReason::kForcedCpu: return "forced_cpu";
    case DispatchReason::kBatchTooSmall: return "batch_too_small";
    case DispatchReason::kNoGpu: return "no_gpu";
    case DispatchReason::kLowSuccessRate: return "low_success_rate";
    case DispatchReason::kWarmupCpu: return "warmup_cpu";
    case DispatchReason::kWarmupGpu: return "warmup_gpu";
    case DispatchReason::kGpuTooSlow: return "gpu_too_slow";
    case DispatchReason::kGpuFaster: return "gpu_faster";
  }
  return "unknown";
}

Decision Decide(const TrackerSnapshot& s, const DispatchConfig& config, size_t batch,
                bool gpu_available) noexcept {
  auto cpu = [](DispatchReason r) { return Decision{false, r}; };
  if (config.force_cpu) return cpu(DispatchReason::kForcedCpu);
  if (batch < config.min_gpu_batch) return cpu(DispatchReason::kBatchTooSmall);
  if (!gpu_available) return cpu(DispatchReason::kNoGpu);
  if (s.outcome_window > 0 && s.success_rate < config.min_success_rate) {
    return cpu(DispatchReason::kLowSuccessRate);
  }
  if (s.cpu_window < config.warmup_samples) return cpu(DispatchReason::kWarmupCpu);
  if (s.gpu_window < config.warmup_samples) return Decision{true, DispatchReason::kWarmupGpu};
  if (s.speedup < config.min_speedup) return cpu(DispatchReason::kGpuTooSlow);
  return Decision{true, DispatchReason::kGpuFaster};
}

HybridExecutor::HybridExecutor(GpuBackend* gpu, PerformanceTracker* tracker, DispatchConfig config)
    : gpu_(gpu), tracker_(tracker), config_(config) {}

BatchResult HybridExecutor::CosineSimilarity(const float* query, const float* vectors,
                                             size_t count, size_t dim) {
  BatchResult result;
  result.scores.resize(count);
  result.snapshot = tracker_->Snapshot();
  const bool gpu_available = gpu_ != nullptr && gpu_->Available();
  result.decision = Decide(result.snapshot, config_, count, gpu_available);
  if (const auto dispatch = Engine().dispatch) dispatch(result.decision.to_gpu ? 1 : 0);

  if (result.decision.to_gpu) {
    const GpuRun run = gpu_->CosineSimilarity(query, vectors, count, dim, result.scores.data());
    if (run.status == GpuStatus::kOk) {
      tracker_->RecordGpuSuccess(run.device_ns, count);
      result.ran_on_gpu = true;
      return result;
    }
    tracker_->RecordGpuFailure(run.status == GpuStatus::kOutOfMemory);
  }
  const auto start = std::chrono::steady_clock::now();
  CosineSimilarityCpu(query, vectors, count, dim, result.scores.data());
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - start).count();
  tracker_->RecordCpu(static_cast<uint64_t>(ns > 0 ? ns : 1), count);
  return result;
}

}  // namespace lockaudit::gpu
