// Edge lines: the JSON report's `edge` objects (docs/report.md), built on the symbolizer
// thread, which names their locks and symbolizes their stacks (reading the debug information
// of every module on them). Without a JSON report they would be built for nothing.
#include <gtest/gtest.h>

#include <thread>

#include "provider.h"
#include "report.h"
#include "thread_state.h"
#include "tracker.h"

namespace lockaudit::core {
namespace {

TEST(EdgeLinesTest, NoneIsPostedWithoutAJsonReport) {
  ASSERT_FALSE(JsonReportOn()) << "core_test runs without LOCKAUDIT_REPORT";
  constexpr int kLocks = 4;
  alignas(64) static char locks[64 * kLocks];
  for (int i = 0; i < kLocks; ++i) OnCreate(locks + 64 * i, LockClass::kMutex, nullptr, kNoLevel);
  const uint64_t posted = EdgeLinesPosted();
  std::thread t([] {
    ThreadState* ts = ThisThread();
    ASSERT_NE(ts, nullptr);
    // A nest of four locks: three new edges, learned as ever.
    for (int i = 0; i < kLocks; ++i) {
      OnAcquired(*ts, locks + 64 * i, LockClass::kMutex, kExclusive,
                 Site{0x3000 + static_cast<uintptr_t>(i), 0});
    }
    for (int i = kLocks; i-- > 0;) OnReleased(*ts, locks + 64 * i, Site{0x3100, 0});
  });
  t.join();
  const GraphSnapshot g = SnapshotGraph();
  int learned = 0;
  for (const auto& [from, to] : g.edges) {
    for (int i = 0; i + 1 < kLocks; ++i) {
      if (from == IdOf(locks + 64 * i) && to == IdOf(locks + 64 * (i + 1))) ++learned;
    }
  }
  EXPECT_EQ(learned, kLocks - 1);
  EXPECT_EQ(EdgeLinesPosted(), posted);
  for (int i = 0; i < kLocks; ++i) OnDestroy(nullptr, locks + 64 * i, Site{}, true);
}

}  // namespace
}  // namespace lockaudit::core
