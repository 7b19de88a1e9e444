// gpu/cupti/translate: the pure part of the CUPTI module. It maps a CUPTI API callback (domain,
// callback id, enter/exit) to the engine's GPU events, and activity records to metric names. No
// CUPTI call, no GPU and no global state: the callback's per-thread state is passed in, so the
// unit tests drive every path on a machine without a driver.
//
// Which calls synchronise: device/context/stream/event synchronize and the synchronous memory
// copies, in every variant CUPTI reports separately (_v2, per-thread default stream _ptds/_ptsz,
// the 64-bit cu64* forms). They are reported under the name the user wrote (variants folded:
// cudaStreamSynchronize_ptsz is "cudaStreamSynchronize", cuMemcpyHtoD_v2 is "cuMemcpyHtoD").
// Not included: *Async copies, and cudaMemcpyPeer/cuMemcpyPeer (documented as asynchronous with
// respect to the host).
//
// Nesting: the runtime implements cudaStreamSynchronize with cuStreamSynchronize, and CUPTI
// reports both. Only the outermost synchronising call of a thread becomes an event pair, so one
// user call is one finding check and one duration.
//
// Thread-safety: every function is reentrant; ThreadSyncState belongs to one thread.
// Cost: a switch on the callback id; no allocation.
#ifndef LOCKAUDIT_GPU_CUPTI_TRANSLATE_H_
#define LOCKAUDIT_GPU_CUPTI_TRANSLATE_H_

#include <cstdint>

#include "engine_bridge.h"

namespace lockaudit::gpu {

enum class ApiDomain : uint8_t { kRuntime, kDriver };

// The user-facing name of a synchronising call (a static string), or nullptr when `cbid` does
// not block the host until the GPU is done.
const char* SyncApiName(ApiDomain domain, uint32_t cbid) noexcept;

// True when `cbid` launches a kernel (its correlation id names the kernel's activity record).
bool IsKernelLaunch(ApiDomain domain, uint32_t cbid) noexcept;

// Callback ids are below this bound in each domain (for enabling callbacks one by one).
uint32_t CallbackIdLimit(ApiDomain domain) noexcept;

// The callback's state for one thread.
// Invariants: depth >= 0; outer_api != nullptr exactly when depth > 0.
struct ThreadSyncState {
  int depth = 0;                      // synchronising calls in progress (outer + nested)
  const char* outer_api = nullptr;    // the outermost one's name
  uint64_t outer_begin_ns = 0;        // when it was entered
  int runtime_launch_depth = 0;       // runtime launch calls in progress
  uint32_t runtime_launch_correlation = 0;  // of the thread's last runtime kernel launch
  uint32_t driver_launch_correlation = 0;   // of its last driver launch not made by the runtime
};

// What one callback means to the engine.
struct GpuEvent {
  enum Kind : uint8_t { kNone, kSyncBegin, kSyncEnd };
  Kind kind = kNone;
  const char* api = nullptr;  // kSyncBegin, kSyncEnd
  uint64_t duration_ns = 0;   // kSyncEnd: host time from the outer call's entry to its exit
};

// Translates one API callback. `enter`: CUPTI_API_ENTER (else CUPTI_API_EXIT); `now_ns`: a
// monotonic clock. An exit without a matching entry (tracing began during the call) is kNone.
GpuEvent TranslateCallback(ThreadSyncState& state, ApiDomain domain, uint32_t cbid, bool enter,
                           uint32_t correlation_id, uint64_t now_ns) noexcept;

// Hands `event` to the engine (no-op for kNone or missing entry points).
void Deliver(const GpuEvent& event, const EngineApi& engine) noexcept;

// The metric name of a memory-copy activity record: "memcpy_HtoD", ... ("memcpy_unknown" for
// kinds this build does not know). `copy_kind` is CUpti_ActivityMemcpyKind.
const char* MemcpyActivityName(uint32_t copy_kind) noexcept;

// Kernel duration from an activity record's timestamps; 0 when CUPTI could not time it
// (both 0) or the record is inconsistent (end before start).
uint64_t ActivityDuration(uint64_t start_ns, uint64_t end_ns) noexcept;

}  // namespace lockaudit::gpu

#endif  // LOCKAUDIT_GPU_CUPTI_TRANSLATE_H_
