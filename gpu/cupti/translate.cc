#include "translate.h"

#include <cupti_activity.h>
#include <cupti_driver_cbid.h>
#include <cupti_runtime_cbid.h>

namespace lockaudit::gpu {

const char* SyncApiName(ApiDomain domain, uint32_t cbid) noexcept {
  if (domain == ApiDomain::kRuntime) {
#define LOCKAUDIT_RT(id) case CUPTI_RUNTIME_TRACE_CBID_##id:
    switch (cbid) {
      LOCKAUDIT_RT(cudaDeviceSynchronize_v3020) return "cudaDeviceSynchronize";
      LOCKAUDIT_RT(cudaThreadSynchronize_v3020) return "cudaThreadSynchronize";
      LOCKAUDIT_RT(cudaStreamSynchronize_v3020)
      LOCKAUDIT_RT(cudaStreamSynchronize_ptsz_v7000) return "cudaStreamSynchronize";
      LOCKAUDIT_RT(cudaEventSynchronize_v3020) return "cudaEventSynchronize";
      LOCKAUDIT_RT(cudaMemcpy_v3020)
      LOCKAUDIT_RT(cudaMemcpy_ptds_v7000) return "cudaMemcpy";
      LOCKAUDIT_RT(cudaMemcpy2D_v3020)
      LOCKAUDIT_RT(cudaMemcpy2D_ptds_v7000) return "cudaMemcpy2D";
      LOCKAUDIT_RT(cudaMemcpy3D_v3020)
      LOCKAUDIT_RT(cudaMemcpy3D_ptds_v7000) return "cudaMemcpy3D";
      LOCKAUDIT_RT(cudaMemcpyToArray_v3020)
      LOCKAUDIT_RT(cudaMemcpyToArray_ptds_v7000) return "cudaMemcpyToArray";
      LOCKAUDIT_RT(cudaMemcpy2DToArray_v3020)
      LOCKAUDIT_RT(cudaMemcpy2DToArray_ptds_v7000) return "cudaMemcpy2DToArray";
      LOCKAUDIT_RT(cudaMemcpyFromArray_v3020)
      LOCKAUDIT_RT(cudaMemcpyFromArray_ptds_v7000) return "cudaMemcpyFromArray";
      LOCKAUDIT_RT(cudaMemcpy2DFromArray_v3020)
      LOCKAUDIT_RT(cudaMemcpy2DFromArray_ptds_v7000) return "cudaMemcpy2DFromArray";
      LOCKAUDIT_RT(cudaMemcpyArrayToArray_v3020)
      LOCKAUDIT_RT(cudaMemcpyArrayToArray_ptds_v7000) return "cudaMemcpyArrayToArray";
      LOCKAUDIT_RT(cudaMemcpy2DArrayToArray_v3020)
      LOCKAUDIT_RT(cudaMemcpy2DArrayToArray_ptds_v7000) return "cudaMemcpy2DArrayToArray";
      LOCKAUDIT_RT(cudaMemcpyToSymbol_v3020)
      LOCKAUDIT_RT(cudaMemcpyToSymbol_ptds_v7000) return "cudaMemcpyToSymbol";
      LOCKAUDIT_RT(cudaMemcpyFromSymbol_v3020)
      LOCKAUDIT_RT(cudaMemcpyFromSymbol_ptds_v7000) return "cudaMemcpyFromSymbol";
      default: return nullptr;
    }
#undef LOCKAUDIT_RT
  }
#define LOCKAUDIT_DRV(id) case CUPTI_DRIVER_TRACE_CBID_##id:
  switch (cbid) {
    LOCKAUDIT_DRV(cuCtxSynchronize)
    LOCKAUDIT_DRV(cuCtxSynchronize_v2) return "cuCtxSynchronize";
    LOCKAUDIT_DRV(cuStreamSynchronize)
    LOCKAUDIT_DRV(cuStreamSynchronize_ptsz) return "cuStreamSynchronize";
    LOCKAUDIT_DRV(cuEventSynchronize) return "cuEventSynchronize";
    LOCKAUDIT_DRV(cuMemcpy)
    LOCKAUDIT_DRV(cuMemcpy_v2)
    LOCKAUDIT_DRV(cuMemcpy_ptds) return "cuMemcpy";
    LOCKAUDIT_DRV(cuMemcpyHtoD)
    LOCKAUDIT_DRV(cu64MemcpyHtoD)
    LOCKAUDIT_DRV(cuMemcpyHtoD_v2)
    LOCKAUDIT_DRV(cuMemcpyHtoD_v2_ptds) return "cuMemcpyHtoD";
    LOCKAUDIT_DRV(cuMemcpyDtoH)
    LOCKAUDIT_DRV(cu64MemcpyDtoH)
    LOCKAUDIT_DRV(cuMemcpyDtoH_v2)
    LOCKAUDIT_DRV(cuMemcpyDtoH_v2_ptds) return "cuMemcpyDtoH";
    LOCKAUDIT_DRV(cuMemcpyDtoD)
    LOCKAUDIT_DRV(cu64MemcpyDtoD)
    LOCKAUDIT_DRV(cuMemcpyDtoD_v2)
    LOCKAUDIT_DRV(cuMemcpyDtoD_v2_ptds) return "cuMemcpyDtoD";
    LOCKAUDIT_DRV(cuMemcpyDtoA)
    LOCKAUDIT_DRV(cu64MemcpyDtoA)
    LOCKAUDIT_DRV(cuMemcpyDtoA_v2)
    LOCKAUDIT_DRV(cuMemcpyDtoA_v2_ptds) return "cuMemcpyDtoA";
    LOCKAUDIT_DRV(cuMemcpyAtoD)
    LOCKAUDIT_DRV(cu64MemcpyAtoD)
    LOCKAUDIT_DRV(cuMemcpyAtoD_v2)
    LOCKAUDIT_DRV(cuMemcpyAtoD_v2_ptds) return "cuMemcpyAtoD";
    LOCKAUDIT_DRV(cuMemcpyHtoA)
    LOCKAUDIT_DRV(cuMemcpyHtoA_v2)
    LOCKAUDIT_DRV(cuMemcpyHtoA_v2_ptds) return "cuMemcpyHtoA";
    LOCKAUDIT_DRV(cuMemcpyAtoH)
    LOCKAUDIT_DRV(cuMemcpyAtoH_v2)
    LOCKAUDIT_DRV(cuMemcpyAtoH_v2_ptds) return "cuMemcpyAtoH";
    LOCKAUDIT_DRV(cuMemcpyAtoA)
    LOCKAUDIT_DRV(cuMemcpyAtoA_v2)
    LOCKAUDIT_DRV(cuMemcpyAtoA_v2_ptds) return "cuMemcpyAtoA";
    LOCKAUDIT_DRV(cuMemcpy2D)
    LOCKAUDIT_DRV(cu64Memcpy2D)
    LOCKAUDIT_DRV(cuMemcpy2D_v2)
    LOCKAUDIT_DRV(cuMemcpy2D_v2_ptds) return "cuMemcpy2D";
    LOCKAUDIT_DRV(cuMemcpy2DUnaligned)
    LOCKAUDIT_DRV(cu64Memcpy2DUnaligned)
    LOCKAUDIT_DRV(cuMemcpy2DUnaligned_v2)
    LOCKAUDIT_DRV(cuMemcpy2DUnaligned_v2_ptds) return "cuMemcpy2DUnaligned";
    LOCKAUDIT_DRV(cuMemcpy3D)
    LOCKAUDIT_DRV(cu64Memcpy3D)
    LOCKAUDIT_DRV(cuMemcpy3D_v2)
    LOCKAUDIT_DRV(cuMemcpy3D_v2_ptds) return "cuMemcpy3D";
    default: return nullptr;
  }
#undef LOCKAUDIT_DRV
}

bool IsKernelLaunch(ApiDomain domain, uint32_t cbid) noexcept {
  if (domain == ApiDomain::kRuntime) {
    switch (cbid) {
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000:
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000:
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060:
      case CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060:
      case CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_v13000:
      case CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_ptsz_v13000:
        return true;
      default:
        return false;
    }
  }
  switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz:
      return true;
    default:
      return false;
  }
}

uint32_t CallbackIdLimit(ApiDomain domain) noexcept {
  if (domain == ApiDomain::kRuntime) return static_cast<uint32_t>(CUPTI_RUNTIME_TRACE_CBID_SIZE);
  return static_cast<uint32_t>(CUPTI_DRIVER_TRACE_CBID_SIZE);
}

GpuEvent TranslateCallback(ThreadSyncState& state, ApiDomain domain, uint32_t cbid, bool enter,
                           uint32_t correlation_id, uint64_t now_ns) noexcept {
  GpuEvent event;
  if (IsKernelLaunch(domain, cbid)) {
    if (domain == ApiDomain::kRuntime) {
      if (enter) {
        ++state.runtime_launch_depth;
        state.runtime_launch_correlation = correlation_id;
      } else if (state.runtime_launch_depth > 0) {
        --state.runtime_launch_depth;
      }
    } else if (enter && state.runtime_launch_depth == 0) {
      state.driver_launch_correlation = correlation_id;  // a direct driver launch
    }
    return event;
  }
  const char* api = SyncApiName(domain, cbid);
  if (api == nullptr) return event;
  if (enter) {
    if (state.depth++ == 0) {
      state.outer_api = api;
      state.outer_begin_ns = now_ns;
      event.kind = GpuEvent::kSyncBegin;
      event.api = api;
    }
    return event;
  }
  if (state.depth == 0) return event;  // entered before tracing began
  if (--state.depth == 0) {
    event.kind = GpuEvent::kSyncEnd;
    event.api = state.outer_api;
    event.duration_ns = now_ns > state.outer_begin_ns ? now_ns - state.outer_begin_ns : 0;
    state.outer_api = nullptr;
    state.outer_begin_ns = 0;
  }
  return event;
}

void Deliver(const GpuEvent& event, const EngineApi& engine) noexcept {
  switch (event.kind) {
    case GpuEvent::kSyncBegin:
      if (engine.gpu_sync_begin != nullptr) engine.gpu_sync_begin(event.api);
      break;
    case GpuEvent::kSyncEnd:
      if (engine.gpu_sync_end != nullptr) engine.gpu_sync_end(event.api, event.duration_ns);
      break;
    case GpuEvent::kNone:
      break;
  }
}

const char* MemcpyActivityName(uint32_t copy_kind) noexcept {
  switch (copy_kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "memcpy_HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "memcpy_DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOA: return "memcpy_HtoA";
    case CUPTI_ACTIVITY_MEMCPY_KIND_ATOH: return "memcpy_AtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_ATOA: return "memcpy_AtoA";
    case CUPTI_ACTIVITY_MEMCPY_KIND_ATOD: return "memcpy_AtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOA: return "memcpy_DtoA";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "memcpy_DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH: return "memcpy_HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "memcpy_PtoP";
    default: return "memcpy_unknown";
  }
}

uint64_t ActivityDuration(uint64_t start_ns, uint64_t end_ns) noexcept {
  return end_ns > start_ns ? end_ns - start_ns : 0;
}

}  // namespace lockaudit::gpu
