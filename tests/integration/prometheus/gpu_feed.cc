// gpu_feed: the GPU and dispatcher metric families, for the Prometheus end-to-end test on a
// machine without a GPU (CI never has one). Runs under the shim with the exporter on.
//
// * lockaudit_dispatch_total: the real HybridExecutor (gpu/dispatch) with no GPU backend computes
//   batches of cosine similarities on the CPU; every decision it makes is counted by the engine.
// * lockaudit_gpu_sync_seconds / lockaudit_gpu_kernel_seconds: there is no device, so this is a
//   REPLAY: a recorded CUPTI callback sequence (cudaStreamSynchronize entered while a std::mutex
//   is held, left 2 ms later) goes through liblockaudit_cupti's translation layer
//   (gpu/cupti/translate) exactly as the CUPTI callback hands it on, and kernel activity records
//   are delivered as the activity callback does. The durations are made up; the series, labels
//   and the gpu_sync_under_lock finding are the real ones.
//
// Usage: gpu_feed SECONDS
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "engine_bridge.h"
#include "hybrid_executor.h"
#include "performance_tracker.h"
#ifdef LOCKAUDIT_GPU_FEED_REPLAY
#include <cupti_runtime_cbid.h>

#include "translate.h"
#endif

std::mutex g_model_mu;  // held across the (replayed) stream synchronisation

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 30;
  lockaudit::gpu::PerformanceTracker tracker;
  lockaudit::gpu::DispatchConfig config;
  config.min_gpu_batch = 64;
  lockaudit::gpu::HybridExecutor executor(nullptr, &tracker, config);  // no GPU: CPU path
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const size_t dim = 64, count = 256;
  std::vector<float> query(dim), vectors(dim * count);
  for (float& v : query) v = value(rng);
  for (float& v : vectors) v = value(rng);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  unsigned correlation = 1;
  while (std::chrono::steady_clock::now() < until) {
    executor.CosineSimilarity(query.data(), vectors.data(), count, dim);
#ifdef LOCKAUDIT_GPU_FEED_REPLAY
    {
      using lockaudit::gpu::ApiDomain;
      std::lock_guard<std::mutex> lock(g_model_mu);
      lockaudit::gpu::ThreadSyncState state;
      const uint64_t t0 = static_cast<uint64_t>(
          std::chrono::steady_clock::now().time_since_epoch().count());
      lockaudit::gpu::Deliver(lockaudit::gpu::TranslateCallback(
          state, ApiDomain::kRuntime, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020, true,
          correlation, t0), lockaudit::gpu::Engine());
      lockaudit::gpu::Deliver(lockaudit::gpu::TranslateCallback(
          state, ApiDomain::kRuntime, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020, false,
          correlation, t0 + 2000000), lockaudit::gpu::Engine());
      ++correlation;
    }
    if (auto activity = lockaudit::gpu::Engine().gpu_activity) {
      activity("cosine_similarity_kernel", 150000 + (correlation % 7) * 10000);
      activity(lockaudit::gpu::MemcpyActivityName(1), 40000);  // host to device
    }
#endif
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("gpu_feed: done\n");
  return 0;
}
