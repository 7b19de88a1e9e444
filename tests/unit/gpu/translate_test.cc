// Tests of gpu/cupti/translate: CUPTI callbacks -> engine events, without a GPU or a driver. The
// engine tests at the end feed the translated events into the real engine (lockaudit_core) and
// read findings and statistics back.
#include "translate.h"

#include <cupti_activity.h>
#include <cupti_driver_cbid.h>
#include <cupti_runtime_cbid.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "engine_for_tests.h"
#include "provider.h"
#include "report.h"
#include "stats.h"

namespace lockaudit::gpu {
namespace {

using testing::CollectStats;
using testing::CoreEngine;
using testing::FindSync;

constexpr ApiDomain kRt = ApiDomain::kRuntime;
constexpr ApiDomain kDrv = ApiDomain::kDriver;

TEST(TranslateTest, RuntimeSynchronisingCallsAreNamedAsTheUserWroteThem) {
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaDeviceSynchronize_v3020), "cudaDeviceSynchronize");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020), "cudaStreamSynchronize");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_ptsz_v7000), "cudaStreamSynchronize");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaEventSynchronize_v3020), "cudaEventSynchronize");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020), "cudaMemcpy");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_ptds_v7000), "cudaMemcpy");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy2D_ptds_v7000), "cudaMemcpy2D");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyToSymbol_v3020), "cudaMemcpyToSymbol");
  EXPECT_STREQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy3D_ptds_v7000), "cudaMemcpy3D");
}

TEST(TranslateTest, DriverVariantsFoldIntoOneName) {
  EXPECT_STREQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuCtxSynchronize), "cuCtxSynchronize");
  EXPECT_STREQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuCtxSynchronize_v2), "cuCtxSynchronize");
  EXPECT_STREQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuStreamSynchronize), "cuStreamSynchronize");
  EXPECT_STREQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuStreamSynchronize_ptsz), "cuStreamSynchronize");
  EXPECT_STREQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuEventSynchronize), "cuEventSynchronize");
  for (uint32_t id : {CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD, CUPTI_DRIVER_TRACE_CBID_cu64MemcpyHtoD,
                      CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2_ptds}) {
    EXPECT_STREQ(SyncApiName(kDrv, id), "cuMemcpyHtoD") << id;
  }
  for (uint32_t id : {CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2,
                      CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2_ptds}) {
    EXPECT_STREQ(SyncApiName(kDrv, id), "cuMemcpyDtoH") << id;
  }
  EXPECT_STREQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuMemcpy_ptds), "cuMemcpy");
  EXPECT_STREQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuMemcpy3D_v2_ptds), "cuMemcpy3D");
}

TEST(TranslateTest, AsynchronousCallsLaunchesAndPeerCopiesAreNotSynchronising) {
  EXPECT_EQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_v3020), nullptr);
  EXPECT_EQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyAsync_ptsz_v7000), nullptr);
  EXPECT_EQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpyPeer_v4000), nullptr);
  EXPECT_EQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000), nullptr);
  EXPECT_EQ(SyncApiName(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaStreamQuery_v3020), nullptr);
  EXPECT_EQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoDAsync_v2), nullptr);
  EXPECT_EQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuMemcpyPeer), nullptr);
  EXPECT_EQ(SyncApiName(kDrv, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel), nullptr);
  EXPECT_EQ(SyncApiName(kRt, CallbackIdLimit(kRt) + 5), nullptr);
  // A runtime id is not read as the driver id with the same number: cudaStreamSynchronize (131)
  // is not a driver synchronisation, and cuCtxSynchronize (17) is not a runtime one.
  EXPECT_EQ(SyncApiName(kDrv, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020), nullptr);
  EXPECT_EQ(SyncApiName(kRt, CUPTI_DRIVER_TRACE_CBID_cuCtxSynchronize), nullptr);
}

TEST(TranslateTest, EveryNamedCallIsASynchronizeOrASynchronousCopy) {
  for (ApiDomain d : {kRt, kDrv}) {
    int named = 0;
    for (uint32_t id = 0; id < CallbackIdLimit(d); ++id) {
      const char* name = SyncApiName(d, id);
      if (name == nullptr) continue;
      ++named;
      const std::string n = name;
      EXPECT_EQ(n.rfind(d == kRt ? "cuda" : "cu", 0), 0u) << n;
      EXPECT_TRUE(n.find("Synchronize") != std::string::npos || n.find("Memcpy") != std::string::npos) << n;
      EXPECT_EQ(n.find("Async"), std::string::npos) << n;
      EXPECT_EQ(n.find("Peer"), std::string::npos) << n;
      EXPECT_EQ(n.find("_v2"), std::string::npos) << "variants are folded: " << n;
      EXPECT_EQ(n.find("_pt"), std::string::npos) << "variants are folded: " << n;
      EXPECT_FALSE(IsKernelLaunch(d, id)) << n;
    }
    EXPECT_GT(named, 10) << (d == kRt ? "runtime" : "driver");
  }
}

TEST(TranslateTest, OuterCallIsOneEventPairAndNestedDriverCallIsAbsorbed) {
  ThreadSyncState st;
  GpuEvent e = TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020, true, 11, 1000);
  EXPECT_EQ(e.kind, GpuEvent::kSyncBegin);
  EXPECT_STREQ(e.api, "cudaStreamSynchronize");
  // The runtime's own driver call inside it.
  e = TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuStreamSynchronize, true, 12, 1100);
  EXPECT_EQ(e.kind, GpuEvent::kNone);
  e = TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuStreamSynchronize, false, 12, 4900);
  EXPECT_EQ(e.kind, GpuEvent::kNone);
  EXPECT_EQ(st.depth, 1);
  e = TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020, false, 11, 5000);
  EXPECT_EQ(e.kind, GpuEvent::kSyncEnd);
  EXPECT_STREQ(e.api, "cudaStreamSynchronize");
  EXPECT_EQ(e.duration_ns, 4000u);
  EXPECT_EQ(st.depth, 0);
  EXPECT_EQ(st.outer_api, nullptr);
}

TEST(TranslateTest, DirectDriverCallIsItsOwnPair) {
  ThreadSyncState st;
  GpuEvent e = TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2, true, 3, 10);
  EXPECT_EQ(e.kind, GpuEvent::kSyncBegin);
  EXPECT_STREQ(e.api, "cuMemcpyDtoH");
  e = TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuMemcpyDtoH_v2, false, 3, 25);
  EXPECT_EQ(e.kind, GpuEvent::kSyncEnd);
  EXPECT_EQ(e.duration_ns, 15u);
}

TEST(TranslateTest, ExitWithoutEntryAndOtherCallsAreIgnored) {
  ThreadSyncState st;
  EXPECT_EQ(TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaDeviceSynchronize_v3020, false, 1, 5).kind,
            GpuEvent::kNone);
  EXPECT_EQ(st.depth, 0);
  EXPECT_EQ(TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, true, 2, 6).kind, GpuEvent::kNone);
  EXPECT_EQ(TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, false, 2, 7).kind, GpuEvent::kNone);
  EXPECT_EQ(st.depth, 0);
  // A clock that went backwards gives 0, not a huge unsigned duration.
  TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaDeviceSynchronize_v3020, true, 3, 100);
  GpuEvent e = TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaDeviceSynchronize_v3020, false, 3, 50);
  EXPECT_EQ(e.kind, GpuEvent::kSyncEnd);
  EXPECT_EQ(e.duration_ns, 0u);
}

TEST(TranslateTest, LaunchCorrelationIsTheRuntimeCallsWhenTheRuntimeLaunched) {
  ThreadSyncState st;
  EXPECT_TRUE(IsKernelLaunch(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000));
  EXPECT_TRUE(IsKernelLaunch(kRt, CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_v13000));
  EXPECT_TRUE(IsKernelLaunch(kDrv, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel));
  EXPECT_FALSE(IsKernelLaunch(kDrv, CUPTI_DRIVER_TRACE_CBID_cuStreamSynchronize));
  TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, true, 70, 0);
  TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, true, 71, 0);  // the runtime's
  TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, false, 71, 0);
  TranslateCallback(st, kRt, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000, false, 70, 0);
  EXPECT_EQ(st.runtime_launch_correlation, 70u);
  EXPECT_EQ(st.driver_launch_correlation, 0u);
  TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, true, 90, 0);  // direct
  TranslateCallback(st, kDrv, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel, false, 90, 0);
  EXPECT_EQ(st.driver_launch_correlation, 90u);
  EXPECT_EQ(st.runtime_launch_correlation, 70u);
  EXPECT_EQ(st.runtime_launch_depth, 0);
}

TEST(TranslateTest, ActivityNamesAndDurations) {
  EXPECT_STREQ(MemcpyActivityName(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD), "memcpy_HtoD");
  EXPECT_STREQ(MemcpyActivityName(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH), "memcpy_DtoH");
  EXPECT_STREQ(MemcpyActivityName(CUPTI_ACTIVITY_MEMCPY_KIND_DTOD), "memcpy_DtoD");
  EXPECT_STREQ(MemcpyActivityName(CUPTI_ACTIVITY_MEMCPY_KIND_PTOP), "memcpy_PtoP");
  EXPECT_STREQ(MemcpyActivityName(12345), "memcpy_unknown");
  EXPECT_EQ(ActivityDuration(100, 350), 250u);
  EXPECT_EQ(ActivityDuration(0, 0), 0u);
  EXPECT_EQ(ActivityDuration(500, 400), 0u);
}

// An EngineApi that records what it was given, to check Deliver().
struct Recorded {
  static inline std::string begin, end, activity;
  static inline unsigned long long end_ns = 0;
};
TEST(TranslateTest, DeliverCallsTheMatchingEntryPointOnly) {
  EngineApi api;
  api.gpu_sync_begin = [](const char* n) { Recorded::begin = n; };
  api.gpu_sync_end = [](const char* n, unsigned long long ns) { Recorded::end = n; Recorded::end_ns = ns; };
  Deliver(GpuEvent{GpuEvent::kSyncBegin, "cudaMemcpy", 0}, api);
  EXPECT_EQ(Recorded::begin, "cudaMemcpy");
  EXPECT_EQ(Recorded::end, "");
  Deliver(GpuEvent{GpuEvent::kSyncEnd, "cudaMemcpy", 77}, api);
  EXPECT_EQ(Recorded::end, "cudaMemcpy");
  EXPECT_EQ(Recorded::end_ns, 77u);
  Deliver(GpuEvent{GpuEvent::kSyncEnd, "x", 1}, EngineApi{});  // missing entry points: no crash
}

// ---- Through the engine ----------------------------------------------------------------------

// Drives one synchronising call through translation into the engine.
void SyncCall(ApiDomain d, uint32_t cbid, uint64_t ns) {
  ThreadSyncState st;
  Deliver(TranslateCallback(st, d, cbid, true, 1, 1000), CoreEngine());
  Deliver(TranslateCallback(st, d, cbid, false, 1, 1000 + ns), CoreEngine());
}

TEST(TranslateEngineTest, SyncUnderLockIsAFindingAndItsDurationIsAttributed) {
  core::ThreadState* ts = core::ThisThread();
  ASSERT_NE(ts, nullptr) << "engine not running in the test";
  static int held_mu;  // any address works as a lock identity
  core::OnCreate(&held_mu, core::LockClass::kMutex, "gpu_translate_held_mu", core::kNoLevel);
  const uint64_t findings_before = core::FindingCount(core::FindingKind::kGpuSyncUnderLock);

  core::OnAcquired(*ts, &held_mu, core::LockClass::kMutex, 0, core::Site{});
  SyncCall(kRt, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_ptsz_v7000, 3'000'000);
  core::OnReleased(*ts, &held_mu, core::Site{});

  EXPECT_EQ(core::FindingCount(core::FindingKind::kGpuSyncUnderLock), findings_before + 1);
  bool named = false;
  for (const core::Finding& f : core::AllFindings()) {
    if (f.kind != core::FindingKind::kGpuSyncUnderLock) continue;
    for (const auto& l : f.locks) named |= l.name == "gpu_translate_held_mu";
    EXPECT_NE(f.message.find("cudaStreamSynchronize"), std::string::npos) << f.message;
  }
  EXPECT_TRUE(named) << "the finding names the held lock";

  const core::stats::Snapshot s = CollectStats();
  const core::stats::GpuSyncRow* row = FindSync(s, "cudaStreamSynchronize", true);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->seconds.Count(), 1u);
  EXPECT_EQ(row->seconds.sum_ns, 3'000'000u);
  bool attributed = false;
  for (const auto& l : s.locks) {
    if (l.name == "gpu_translate_held_mu") attributed = l.gpu_sync_ns >= 3'000'000u;
  }
  EXPECT_TRUE(attributed) << "the sync time is added to the held lock's hold attribution";
}

TEST(TranslateEngineTest, SyncWithoutLocksIsMeasuredButNoFinding) {
  const uint64_t findings_before = core::FindingCount(core::FindingKind::kGpuSyncUnderLock);
  SyncCall(kDrv, CUPTI_DRIVER_TRACE_CBID_cuCtxSynchronize_v2, 500'000);
  EXPECT_EQ(core::FindingCount(core::FindingKind::kGpuSyncUnderLock), findings_before);
  const core::stats::GpuSyncRow* row = FindSync(CollectStats(), "cuCtxSynchronize", false);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->seconds.Count(), 1u);
  EXPECT_EQ(FindSync(CollectStats(), "cuCtxSynchronize", true), nullptr);
}

TEST(TranslateEngineTest, ActivityRecordsReachTheKernelHistogram) {
  CoreEngine().gpu_activity(MemcpyActivityName(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD), 2'000);
  CoreEngine().gpu_activity("lockaudit_cosine_kernel", 40'000);
  CoreEngine().gpu_activity("lockaudit_cosine_kernel", 60'000);
  const core::stats::Snapshot s = CollectStats();
  bool memcpy_seen = false, kernel_seen = false;
  for (const auto& k : s.gpu_kernels) {
    if (k.kernel == "memcpy_HtoD") memcpy_seen = k.seconds.Count() == 1;
    if (k.kernel == "lockaudit_cosine_kernel") {
      kernel_seen = k.seconds.Count() == 2 && k.seconds.sum_ns == 100'000u;
    }
  }
  EXPECT_TRUE(memcpy_seen);
  EXPECT_TRUE(kernel_seen);
}

}  // namespace
}  // namespace lockaudit::gpu
