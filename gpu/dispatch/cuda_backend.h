// gpu/dispatch/cuda_backend: the CUDA implementation of GpuBackend (built when the toolkit is
// found). The kernel is timed from its CUPTI activity record, through liblockaudit_cupti.so when
// that module is loaded and tracing; otherwise from CUDA events recorded on the device around the
// launch (device timestamps too, never a host timer).
//
// Thread-safety: concurrent calls are allowed; each uses its own stream and buffers, no lock.
// Cost: per call, allocation and copies of the batch (no caching of device memory).
#ifndef LOCKAUDIT_GPU_DISPATCH_CUDA_BACKEND_H_
#define LOCKAUDIT_GPU_DISPATCH_CUDA_BACKEND_H_

#include <memory>

#include "gpu_backend.h"

namespace lockaudit::gpu {

// How the last successful run on this thread was timed (for tests and the device script).
enum class GpuTiming : unsigned char { kNone, kCuptiActivity, kCudaEvents };
GpuTiming LastGpuTiming() noexcept;

std::unique_ptr<GpuBackend> MakeCudaBackend();

}  // namespace lockaudit::gpu

#endif  // LOCKAUDIT_GPU_DISPATCH_CUDA_BACKEND_H_
