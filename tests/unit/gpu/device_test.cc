// Tests that need a CUDA device: the cosine kernel against the CPU path, device timing, and the
// hybrid executor on the real backend. Each skips with the reason when there is no device.
// check-on-device.sh also runs this binary under the shim with LOCKAUDIT_CUDA=1, where the
// kernel must be timed from its CUPTI activity record.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cosine.h"
#include "cuda_backend.h"
#include "hybrid_executor.h"
#include "performance_tracker.h"

namespace lockaudit::gpu {
namespace {

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
      GTEST_SKIP() << "no CUDA device: "
                   << (e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount() == 0");
    }
    backend_ = MakeCudaBackend();
  }
  std::unique_ptr<GpuBackend> backend_;
};

std::vector<float> Random(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST_F(DeviceTest, KernelMatchesTheCpuPathIncludingEdgeCases) {
  ASSERT_TRUE(backend_->Available());
  const size_t dim = 96, count = 5000;
  std::vector<float> q = Random(dim, 1);
  std::vector<float> vs = Random(count * dim, 2);
  for (size_t k = 0; k < dim; ++k) {
    vs[0 * dim + k] = 0;          // zero vector
    vs[1 * dim + k] = -q[k];      // opposite
    vs[2 * dim + k] = 3 * q[k];   // same direction
  }
  std::vector<float> gpu(count), cpu(count);
  const GpuRun run = backend_->CosineSimilarity(q.data(), vs.data(), count, dim, gpu.data());
  ASSERT_EQ(run.status, GpuStatus::kOk);
  CosineSimilarityCpu(q.data(), vs.data(), count, dim, cpu.data());
  EXPECT_EQ(gpu[0], 0.0f);
  EXPECT_NEAR(gpu[1], -1.0f, 1e-6);
  EXPECT_NEAR(gpu[2], 1.0f, 1e-6);
  for (size_t i = 0; i < count; ++i) ASSERT_NEAR(gpu[i], cpu[i], 1e-5) << i;
  EXPECT_GT(run.device_ns, 0u) << "the kernel was not timed on the device";
}

TEST_F(DeviceTest, ZeroQueryGivesZeros) {
  const size_t dim = 32, count = 1000;
  std::vector<float> q(dim, 0.0f), vs = Random(count * dim, 3), out(count, 5.0f);
  ASSERT_EQ(backend_->CosineSimilarity(q.data(), vs.data(), count, dim, out.data()).status, GpuStatus::kOk);
  for (float x : out) ASSERT_EQ(x, 0.0f);
}

TEST_F(DeviceTest, TimingComesFromCuptiWhenTheModuleTraces) {
  const size_t dim = 64, count = 20000;
  std::vector<float> q = Random(dim, 4), vs = Random(count * dim, 5), out(count);
  ASSERT_EQ(backend_->CosineSimilarity(q.data(), vs.data(), count, dim, out.data()).status, GpuStatus::kOk);
  if (std::getenv("LOCKAUDIT_CUDA") != nullptr && std::string(std::getenv("LOCKAUDIT_CUDA")) == "1") {
    EXPECT_EQ(LastGpuTiming(), GpuTiming::kCuptiActivity);
  } else {
    EXPECT_EQ(LastGpuTiming(), GpuTiming::kCudaEvents);
  }
}

TEST_F(DeviceTest, ExecutorSendsLargeBatchesToTheGpuAndStaysCorrect) {
  PerformanceTracker tracker;
  DispatchConfig c;
  c.min_gpu_batch = 4096;
  c.min_speedup = 1.0;
  HybridExecutor ex(backend_.get(), &tracker, c);
  const size_t dim = 128;
  std::vector<float> q = Random(dim, 6);
  int gpu_runs = 0;
  for (size_t i = 0; i < 12; ++i) {
    const size_t count = i % 3 == 0 ? 100 : 50000;
    std::vector<float> vs = Random(count * dim, 10 + i), cpu(count);
    BatchResult r = ex.CosineSimilarity(q.data(), vs.data(), count, dim);
    CosineSimilarityCpu(q.data(), vs.data(), count, dim, cpu.data());
    for (size_t k = 0; k < count; k += 97) ASSERT_NEAR(r.scores[k], cpu[k], 1e-5);
    gpu_runs += r.ran_on_gpu;
    if (count == 100) {
      EXPECT_EQ(r.decision.reason, DispatchReason::kBatchTooSmall);
    }
  }
  const TrackerSnapshot s = tracker.Snapshot();
  std::string why;
  EXPECT_TRUE(IsConsistent(s, tracker.window(), &why)) << why;
  EXPECT_GE(gpu_runs, 3) << "the warm-up alone sends three batches to the GPU";
  EXPECT_EQ(s.gpu_failures, 0u);
  std::printf("device: cpu %.2f ns/item, gpu %.3f ns/item, speedup %.1f, %d of 12 batches on the GPU\n",
              s.cpu_avg_ns, s.gpu_avg_ns, s.speedup, gpu_runs);
}

}  // namespace
}  // namespace lockaudit::gpu
