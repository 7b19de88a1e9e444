// tests/unit/gpu/fake_gpu_backend.h: a GpuBackend without a GPU. It computes with the CPU
// function (so results are checkable), reports a configurable device time per item, and fails or
// runs out of memory on demand.
//
// Thread-safety: every member may be used concurrently (atomics only).
#ifndef LOCKAUDIT_TESTS_UNIT_GPU_FAKE_GPU_BACKEND_H_
#define LOCKAUDIT_TESTS_UNIT_GPU_FAKE_GPU_BACKEND_H_

#include <atomic>
#include <cstdint>

#include "cosine.h"
#include "gpu_backend.h"

namespace lockaudit::gpu::testing {

class FakeGpuBackend final : public GpuBackend {
 public:
  std::atomic<bool> available{true};
  std::atomic<uint64_t> ns_per_item{10};
  std::atomic<int> fail_next{0};  // the next N runs fail
  std::atomic<int> oom_next{0};   // the next N runs run out of memory (before fail_next)
  std::atomic<bool> untimed{false};  // report success without a device time
  std::atomic<uint64_t> runs{0};

  bool Available() const override { return available.load(); }

  GpuRun CosineSimilarity(const float* query, const float* vectors, size_t count, size_t dim,
                          float* out) override {
    runs.fetch_add(1);
    if (TakeOne(oom_next)) return GpuRun{GpuStatus::kOutOfMemory, 0};
    if (TakeOne(fail_next)) return GpuRun{GpuStatus::kFailed, 0};
    CosineSimilarityCpu(query, vectors, count, dim, out);
    return GpuRun{GpuStatus::kOk, untimed.load() ? 0 : ns_per_item.load() * count};
  }

 private:
  static bool TakeOne(std::atomic<int>& n) {
    int v = n.load();
    while (v > 0) {
      if (n.compare_exchange_weak(v, v - 1)) return true;
    }
    return false;
  }
};

}  // namespace lockaudit::gpu::testing

#endif  // LOCKAUDIT_TESTS_UNIT_GPU_FAKE_GPU_BACKEND_H_
