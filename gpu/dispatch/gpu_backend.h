// gpu/dispatch/gpu_backend: the GPU side of the hybrid dispatcher, as an interface so that the
// dispatcher's logic is tested without a GPU (tests/unit/gpu/fake_gpu_backend.h) and the CUDA
// implementation (cuda_backend.h) is built only where the toolkit is.
//
// Thread-safety: implementations must allow concurrent calls from several threads.
#ifndef LOCKAUDIT_GPU_DISPATCH_GPU_BACKEND_H_
#define LOCKAUDIT_GPU_DISPATCH_GPU_BACKEND_H_

#include <cstddef>
#include <cstdint>

namespace lockaudit::gpu {

enum class GpuStatus : uint8_t {
  kOk,
  kFailed,       // launch or copy error; the result is not valid
  kOutOfMemory,  // device allocation failed; the result is not valid
};

struct GpuRun {
  GpuStatus status = GpuStatus::kFailed;
  // Device time of the kernel, from the GPU's own timestamps (CUPTI activity records); 0 when
  // it could not be measured. Never a host timer: host time includes queueing and copies.
  uint64_t device_ns = 0;
};

class GpuBackend {
 public:
  virtual ~GpuBackend() = default;
  // Whether a usable device is present now.
  virtual bool Available() const = 0;
  // CosineSimilarityCpu's contract (cosine.h), on the device. `out` is written only on kOk.
  virtual GpuRun CosineSimilarity(const float* query, const float* vectors, size_t count,
                                  size_t dim, float* out) = 0;
};

}  // namespace lockaudit::gpu

#endif  // LOCKAUDIT_GPU_DISPATCH_GPU_BACKEND_H_
