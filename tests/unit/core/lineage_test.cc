// core/lineage: which pairs of edge observations thread creation and join order (issue 16).
// Incarnations here are made up (large, so that they do not meet the engine's own threads).
#include "lineage.h"

#include <gtest/gtest.h>

namespace lockaudit::core::lineage {
namespace {

constexpr uint32_t kMain = 900001, kFirst = 900002, kSecond = 900003, kThird = 900004;
constexpr uint32_t kMainTid = 100, kFirstTid = 101, kSecondTid = 102, kThirdTid = 103;
constexpr uintptr_t kFirstPthread = 0x7000'0000'1000, kSecondPthread = 0x7000'0000'2000;

// kMain creates a thread (incarnation, tid) whose pthread_t is `pthread_id`, and it starts.
void Start(uint32_t incarnation, uint32_t tid, uintptr_t pthread_id) {
  const Birth birth = OnCreate(kMain, kMainTid);
  OnCreated(pthread_id, birth);
  OnStart(incarnation, tid, birth);
}

TEST(LineageTest, JoinedBeforeTheOtherWasCreatedIsOrdered) {
  Start(kFirst, kFirstTid, kFirstPthread);
  const uint32_t first = kFirst;
  OnJoined(kMain, kMainTid, Unjoined(kFirstPthread), kFirstPthread);
  Start(kSecond, kSecondTid, kSecondPthread);
  const uint32_t second = kSecond;
  const std::string why = OrderedReason(first, "edge 1", second, "edge 2");
  EXPECT_EQ(why, "tid 101, which took edge 1, was joined by tid 100 before that thread created "
                 "tid 102, which took edge 2");
  // The same pair the other way round names the edges as given.
  EXPECT_EQ(OrderedReason(second, "edge 2", first, "edge 1"), why);
}

// The creator's own edge before the creation (or the joiner's after the join) is not judged
// ordered: the creator may take that edge again while the child runs, and a repeat of a known
// edge does not reach the engine.
TEST(LineageTest, TheCreatorsOwnEdgesAreNotOrdered) {
  const uint32_t before = kMain;
  Start(kThird, kThirdTid, 0x7000'0000'3000);
  const uint32_t child = kThird;
  EXPECT_EQ(OrderedReason(before, "edge 1", child, "edge 2"), "");
  OnJoined(kMain, kMainTid, Unjoined(0x7000'0000'3000), 0x7000'0000'3000);
  const uint32_t after = kMain;
  EXPECT_EQ(OrderedReason(child, "edge 1", after, "edge 2"), "");
}

TEST(LineageTest, ThreadsAliveAtTheSameTimeAreNotOrdered) {
  constexpr uint32_t kA = 900011, kB = 900012;
  Start(kA, 111, 0x7000'0000'4000);
  Start(kB, 112, 0x7000'0000'5000);
  const uint32_t a = kA, b = kB;
  EXPECT_EQ(OrderedReason(a, "edge 1", b, "edge 2"), "");
  OnJoined(kMain, kMainTid, Unjoined(0x7000'0000'4000), 0x7000'0000'4000);
  OnJoined(kMain, kMainTid, Unjoined(0x7000'0000'5000), 0x7000'0000'5000);
  EXPECT_EQ(OrderedReason(a, "edge 1", b, "edge 2"), "");  // joined, but they overlapped
  // A join by another thread than the one that created the second: no order is known.
  constexpr uint32_t kC = 900013, kD = 900014, kOther = 900015;
  Start(kC, 113, 0x7000'0000'6000);
  const uint32_t c = kC;
  OnJoined(kOther, 115, Unjoined(0x7000'0000'6000), 0x7000'0000'6000);
  Start(kD, 114, 0x7000'0000'7000);
  EXPECT_EQ(OrderedReason(c, "edge 1", kD, "edge 2"), "");
  // Unknown threads and one thread with itself: not ordered.
  EXPECT_EQ(OrderedReason(0, "edge 1", c, "edge 2"), "");
  EXPECT_EQ(OrderedReason(c, "edge 1", c, "edge 2"), "");
}

}  // namespace
}  // namespace lockaudit::core::lineage
