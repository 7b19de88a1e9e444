// gpu/engine_bridge: how the GPU components reach the engine that is active in the process.
//
// liblockaudit_cupti.so and the dispatcher never link an engine of their own: exactly one engine
// runs per process (the LD_PRELOAD shim's, or liblockaudit.so's when the program links it), and
// both export the same C ABI (<lockaudit/lockaudit.h>: lockaudit_gpu_sync_begin, ...). The bridge
// looks those functions up once with dlsym(RTLD_DEFAULT), which finds the preloaded shim's copy
// first, and otherwise the linked library's.
//
// Thread-safety: Get() may be called from any thread; the first call resolves (racing callers
// resolve the same pointers), later calls are one acquire load. SetForTesting() replaces the
// table for the whole process; call it before the code under test runs.
// Cost: one dlsym per function on the first call; afterwards a load and an indirect call.
#ifndef LOCKAUDIT_GPU_ENGINE_BRIDGE_H_
#define LOCKAUDIT_GPU_ENGINE_BRIDGE_H_

namespace lockaudit::gpu {

// The engine's GPU entry points. A null member means that function is not available.
struct EngineApi {
  void (*gpu_sync_begin)(const char* api) = nullptr;
  void (*gpu_sync_end)(const char* api, unsigned long long duration_ns) = nullptr;
  void (*gpu_activity)(const char* name, unsigned long long duration_ns) = nullptr;
  void (*dispatch)(int to_gpu) = nullptr;

  // True when every entry point is present (an engine of this version is in the process).
  bool Complete() const {
    return gpu_sync_begin != nullptr && gpu_sync_end != nullptr && gpu_activity != nullptr &&
           dispatch != nullptr;
  }
};

// The table resolved from the process's global scope (members null when no engine is loaded).
const EngineApi& Engine() noexcept;

// Tests: use `api` instead of the table resolved from the process (nullptr: back to that one).
void SetEngineForTesting(const EngineApi* api) noexcept;

}  // namespace lockaudit::gpu

#endif  // LOCKAUDIT_GPU_ENGINE_BRIDGE_H_
