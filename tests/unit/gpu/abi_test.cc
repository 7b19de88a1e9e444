// The GPU entry points of the C API (lockaudit_gpu_*, lockaudit_dispatch) in a program linked
// with liblockaudit.so: the bridge finds them in the process, and a synchronisation entered while
// an instrumented lock is held is a gpu_sync_under_lock finding naming that lock.
#include <gtest/gtest.h>
#include <lockaudit/audit.h>
#include <lockaudit/lockaudit.h>
#include <lockaudit/mutex.h>

#include <mutex>
#include <string>

#include "engine_bridge.h"

namespace lockaudit::gpu {
namespace {

size_t GpuFindingsNaming(const std::string& lock_name) {
  size_t n = 0;
  for (const Finding& f : findings()) {
    if (f.kind != "gpu_sync_under_lock") continue;
    for (const LockInfo& l : f.locks) n += l.name == lock_name;
  }
  return n;
}

TEST(GpuAbiTest, BridgeResolvesTheLinkedEngine) {
  const EngineApi& api = Engine();
  ASSERT_TRUE(api.Complete());
  EXPECT_EQ(api.gpu_sync_begin, &lockaudit_gpu_sync_begin);
  EXPECT_EQ(api.dispatch, &lockaudit_dispatch);
}

TEST(GpuAbiTest, SyncWhileHoldingALockIsReportedWithThatLock) {
  lockaudit::mutex mu("gpu_abi_queue_mu");
  {
    std::lock_guard<lockaudit::mutex> hold(mu);
    Engine().gpu_sync_begin("cudaStreamSynchronize");
    Engine().gpu_sync_end("cudaStreamSynchronize", 1'000'000);
  }
  EXPECT_EQ(GpuFindingsNaming("gpu_abi_queue_mu"), 1u);
  bool api_named = false;
  for (const Finding& f : findings()) {
    if (f.kind == "gpu_sync_under_lock") api_named |= f.message.find("cudaStreamSynchronize") != std::string::npos;
  }
  EXPECT_TRUE(api_named);
}

TEST(GpuAbiTest, SyncWithoutLocksIsNoFinding) {
  const unsigned long before = lockaudit_finding_count();
  lockaudit::mutex mu("gpu_abi_released_mu");
  { std::lock_guard<lockaudit::mutex> hold(mu); }
  lockaudit_gpu_sync_begin("cudaDeviceSynchronize");
  lockaudit_gpu_sync_end("cudaDeviceSynchronize", 10);
  lockaudit_gpu_activity("some_kernel", 10);
  lockaudit_dispatch(1);
  lockaudit_gpu_sync_begin(nullptr);  // bad input: ignored
  lockaudit_gpu_activity(nullptr, 1);
  EXPECT_EQ(lockaudit_finding_count(), before);
  EXPECT_EQ(GpuFindingsNaming("gpu_abi_released_mu"), 0u);
}

}  // namespace
}  // namespace lockaudit::gpu
