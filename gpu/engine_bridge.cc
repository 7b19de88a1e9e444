#include "engine_bridge.h"

#include <dlfcn.h>

#include <atomic>

namespace lockaudit::gpu {
namespace {

template <typename Fn>
Fn Lookup(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

EngineApi ResolveFromProcess() noexcept {
  EngineApi api;
  api.gpu_sync_begin = Lookup<decltype(api.gpu_sync_begin)>("lockaudit_gpu_sync_begin");
  api.gpu_sync_end = Lookup<decltype(api.gpu_sync_end)>("lockaudit_gpu_sync_end");
  api.gpu_activity = Lookup<decltype(api.gpu_activity)>("lockaudit_gpu_activity");
  api.dispatch = Lookup<decltype(api.dispatch)>("lockaudit_dispatch");
  return api;
}

std::atomic<const EngineApi*> g_override{nullptr};

}  // namespace

const EngineApi& Engine() noexcept {
  if (const EngineApi* api = g_override.load(std::memory_order_acquire)) return *api;
  static const EngineApi resolved = ResolveFromProcess();  // once, thread-safe
  return resolved;
}

void SetEngineForTesting(const EngineApi* api) noexcept {
  g_override.store(api, std::memory_order_release);
}

}  // namespace lockaudit::gpu
