// liblockaudit_cupti.so: CUPTI tracing of CUDA synchronisation and GPU activity for the engine
// active in the process (DESIGN.md §2 "GPU").
//
// Started once, by whichever comes first: the CUDA driver calling InitializeInjection (the
// library named in CUDA_INJECTION64_PATH) or the shim calling it (LOCKAUDIT_CUDA=1). Then:
// * Callback API, runtime and driver domains, only the synchronising calls and kernel launches
//   (translate.h decides which): entry/exit of the outermost synchronising call of a thread ->
//   lockaudit_gpu_sync_begin/end. The callbacks run on the calling thread, so the engine sees the
//   locks that thread holds.
// * Activity API, CONCURRENT_KERNEL and MEMCPY records -> lockaudit_gpu_activity(name, device
//   time); recent kernel durations are kept by correlation id for lockaudit_cupti_kernel_ns().
// CUPTI allows one subscriber per process. When it cannot subscribe (another tool holds it, no
// driver, no GPU), or no engine is in the process, the library prints one warning and does
// nothing more: the program and the rest of auditing go on.
//
// Thread-safety: InitializeInjection may race with itself (one caller starts, the others return).
// The API callback touches only its thread's ThreadSyncState; the kernel table has its own lock.
#include <cupti.h>
#include <cxxabi.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "cupti_module.h"
#include "engine_bridge.h"
#include "translate.h"

namespace lockaudit::gpu {
namespace {

constexpr size_t kActivityBufferBytes = 1 << 20;
constexpr size_t kActivityAlign = 8;

// One line to stderr, formatted on the stack (STYLE.md: errors).
void Warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Warn(const char* fmt, ...) {
  char line[512];
  int n = snprintf(line, sizeof line, "lockaudit: warning: liblockaudit_cupti.so: ");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m > 0 ? static_cast<size_t>(m) : 0);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, line, len);
  (void)ignored;
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

const char* ResultString(CUptiResult r) {
  const char* s = nullptr;
  if (cuptiGetResultString(r, &s) != CUPTI_SUCCESS || s == nullptr) return "unknown CUPTI error";
  return s;
}

thread_local ThreadSyncState t_sync;

void CUPTIAPI OnApiCallback(void*, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                            const void* data) {
  if (domain != CUPTI_CB_DOMAIN_RUNTIME_API && domain != CUPTI_CB_DOMAIN_DRIVER_API) return;
  const auto* info = static_cast<const CUpti_CallbackData*>(data);
  const ApiDomain d = domain == CUPTI_CB_DOMAIN_RUNTIME_API ? ApiDomain::kRuntime : ApiDomain::kDriver;
  const GpuEvent event = TranslateCallback(t_sync, d, cbid, info->callbackSite == CUPTI_API_ENTER,
                                           info->correlationId, NowNs());
  Deliver(event, Engine());
}

// ---- Activity records ----------------------------------------------------------------------

// Recent kernel durations by correlation id, for the dispatcher's GPU timings.
// Thread-safety: g_kernels_mu guards the ring. Cost: O(kKernelRing) per lookup.
constexpr size_t kKernelRing = 256;
struct KernelTime {
  uint32_t correlation_id = 0;
  uint64_t ns = 0;
};
std::mutex g_kernels_mu;
KernelTime g_kernels[kKernelRing];
size_t g_kernels_next = 0;

void RememberKernel(uint32_t correlation_id, uint64_t ns) {
  std::lock_guard<std::mutex> lock(g_kernels_mu);
  g_kernels[g_kernels_next] = KernelTime{correlation_id, ns};
  g_kernels_next = (g_kernels_next + 1) % kKernelRing;
}

bool FindKernel(uint32_t correlation_id, uint64_t* ns) {
  if (correlation_id == 0) return false;
  std::lock_guard<std::mutex> lock(g_kernels_mu);
  for (const KernelTime& k : g_kernels) {
    if (k.correlation_id == correlation_id) {
      *ns = k.ns;
      return true;
    }
  }
  return false;
}

void CUPTIAPI OnBufferRequested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(aligned_alloc(kActivityAlign, kActivityBufferBytes));
  *size = *buffer != nullptr ? kActivityBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void ReportKernel(const CUpti_ActivityKernel10& k) {
  const uint64_t ns = ActivityDuration(k.start, k.end);
  RememberKernel(k.correlationId, ns);
  const EngineApi& engine = Engine();
  if (engine.gpu_activity == nullptr || k.name == nullptr) return;
  int status = -1;
  char* demangled = abi::__cxa_demangle(k.name, nullptr, nullptr, &status);
  engine.gpu_activity(status == 0 && demangled != nullptr ? demangled : k.name, ns);
  free(demangled);
}

void CUPTIAPI OnBufferCompleted(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    switch (record->kind) {
      case CUPTI_ACTIVITY_KIND_KERNEL:
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
        ReportKernel(*reinterpret_cast<const CUpti_ActivityKernel10*>(record));
        break;
      case CUPTI_ACTIVITY_KIND_MEMCPY: {
        const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
        const EngineApi& engine = Engine();
        if (engine.gpu_activity != nullptr) {
          engine.gpu_activity(MemcpyActivityName(m->copyKind), ActivityDuration(m->start, m->end));
        }
        break;
      }
      default:
        break;
    }
  }
  free(buffer);
}

// ---- Start ---------------------------------------------------------------------------------

enum State : int { kNotStarted = 0, kStarting, kTracing, kOff };
std::atomic<int> g_state{kNotStarted};
CUpti_SubscriberHandle g_subscriber = nullptr;

// Enables the callbacks translate.h knows, one by one (not whole domains: every other CUDA call
// stays free of our callback).
CUptiResult EnableCallbacks(CUpti_CallbackDomain domain, ApiDomain d) {
  for (uint32_t cbid = 1; cbid < CallbackIdLimit(d); ++cbid) {
    if (SyncApiName(d, cbid) == nullptr && !IsKernelLaunch(d, cbid)) continue;
    CUptiResult r = cuptiEnableCallback(1, g_subscriber, domain, cbid);
    if (r != CUPTI_SUCCESS) return r;
  }
  return CUPTI_SUCCESS;
}

bool Start() {
  if (!Engine().Complete()) {
    Warn("no lockaudit engine in this process (preload liblockaudit_preload.so or link "
         "liblockaudit.so); CUDA calls are not traced");
    return false;
  }
  CUptiResult r = cuptiSubscribe(&g_subscriber, OnApiCallback, nullptr);
  if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
    Warn("another CUPTI tool is subscribed (a profiler?); CUDA calls are not traced");
    return false;
  }
  if (r != CUPTI_SUCCESS) {
    Warn("CUPTI cannot trace (%s: no CUDA driver or GPU?); CUDA calls are not traced",
         ResultString(r));
    return false;
  }
  r = EnableCallbacks(CUPTI_CB_DOMAIN_RUNTIME_API, ApiDomain::kRuntime);
  if (r == CUPTI_SUCCESS) r = EnableCallbacks(CUPTI_CB_DOMAIN_DRIVER_API, ApiDomain::kDriver);
  if (r != CUPTI_SUCCESS) {
    cuptiUnsubscribe(g_subscriber);
    g_subscriber = nullptr;
    Warn("CUPTI callbacks cannot be enabled (%s); CUDA calls are not traced", ResultString(r));
    return false;
  }
  // Kernel and copy durations are an extra: without them synchronisation is still traced.
  r = cuptiActivityRegisterCallbacks(OnBufferRequested, OnBufferCompleted);
  if (r == CUPTI_SUCCESS) r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  if (r == CUPTI_SUCCESS) r = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY);
  if (r != CUPTI_SUCCESS) {
    Warn("CUPTI activity records unavailable (%s); kernel and copy durations are not measured",
         ResultString(r));
  }
  return true;
}

}  // namespace
}  // namespace lockaudit::gpu

using lockaudit::gpu::g_state;

extern "C" {

LOCKAUDIT_CUPTI_API int InitializeInjection(void) {
  int expected = lockaudit::gpu::kNotStarted;
  if (!g_state.compare_exchange_strong(expected, lockaudit::gpu::kStarting)) {
    return expected != lockaudit::gpu::kOff;  // started (or being started) by an earlier call
  }
  const bool ok = lockaudit::gpu::Start();
  g_state.store(ok ? lockaudit::gpu::kTracing : lockaudit::gpu::kOff, std::memory_order_release);
  return ok ? 1 : 0;
}

LOCKAUDIT_CUPTI_API int lockaudit_cupti_tracing(void) {
  return g_state.load(std::memory_order_acquire) == lockaudit::gpu::kTracing;
}

LOCKAUDIT_CUPTI_API void lockaudit_cupti_last_launch(unsigned* runtime_correlation,
                                                     unsigned* driver_correlation) {
  if (runtime_correlation) *runtime_correlation = lockaudit::gpu::t_sync.runtime_launch_correlation;
  if (driver_correlation) *driver_correlation = lockaudit::gpu::t_sync.driver_launch_correlation;
}

LOCKAUDIT_CUPTI_API int lockaudit_cupti_kernel_ns(unsigned correlation_id,
                                                  unsigned long long* duration_ns) {
  if (duration_ns == nullptr || !lockaudit_cupti_tracing()) return 0;
  uint64_t ns = 0;
  if (!lockaudit::gpu::FindKernel(correlation_id, &ns)) {
    cuptiActivityFlushAll(0);  // completed records are delivered before this returns
    if (!lockaudit::gpu::FindKernel(correlation_id, &ns)) return 0;
  }
  *duration_ns = ns;
  return 1;
}

}  // extern "C"
