// tests/unit/gpu/engine_for_tests.h: an EngineApi whose entry points call core/provider directly,
// exactly as lockaudit/src/api.cc's lockaudit_gpu_* functions do, for test binaries that link the
// engine statically (lockaudit_core) and read its statistics and findings back.
#ifndef LOCKAUDIT_TESTS_UNIT_GPU_ENGINE_FOR_TESTS_H_
#define LOCKAUDIT_TESTS_UNIT_GPU_ENGINE_FOR_TESTS_H_

#include <string>

#include "engine_bridge.h"
#include "provider.h"
#include "stats.h"

namespace lockaudit::gpu::testing {

// Starts the engine (statistics read back empty until it runs).
inline const EngineApi& CoreEngine() {
  static const EngineApi api = [] {
    core::EnsureInitialized();
    EngineApi a;
    a.gpu_sync_begin = [](const char* name) {
      if (core::ThreadState* ts = core::ThisThread()) core::OnGpuSyncBegin(*ts, name, core::Site{});
    };
    a.gpu_sync_end = [](const char* name, unsigned long long ns) {
      if (core::ThreadState* ts = core::ThisThread()) core::OnGpuSyncEnd(*ts, name, ns);
    };
    a.gpu_activity = [](const char* name, unsigned long long ns) { core::OnGpuActivity(name, ns); };
    a.dispatch = [](int to_gpu) { core::OnDispatch(to_gpu != 0); };
    return a;
  }();
  return api;
}

// Statistics read from an engine-owned scope (stats.h).
inline core::stats::Snapshot CollectStats() {
  core::EnsureInitialized();
  core::EngineScope inside;
  return core::stats::Collect();
}

inline const core::stats::GpuSyncRow* FindSync(const core::stats::Snapshot& s, const std::string& api,
                                               bool under_lock) {
  for (const auto& row : s.gpu_sync) {
    if (row.api == api && row.under_lock == under_lock) return &row;
  }
  return nullptr;
}

}  // namespace lockaudit::gpu::testing

#endif  // LOCKAUDIT_TESTS_UNIT_GPU_ENGINE_FOR_TESTS_H_
