// lockaudit::channel<T> through liblockaudit's own engine (no shim): its semantics as a channel
// (MPMC, close, try/timed forms, move-only and throwing types) and its findings. The same binary
// runs again with LOCKAUDIT_DISABLE=1 (lockaudit_channel_disabled_test): the channel must work
// the same with the engine off, and report nothing.
#include <lockaudit/audit.h>
#include <lockaudit/channel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

bool Disabled() {
  const char* d = std::getenv("LOCKAUDIT_DISABLE");
  return d != nullptr && std::string(d) == "1";
}

size_t CountKind(const std::string& kind) {
  size_t n = 0;
  for (const lockaudit::Finding& f : lockaudit::findings()) n += f.kind == kind;
  return n;
}

TEST(Channel, ManyProducersManyConsumersLoseNothing) {
  lockaudit::channel<uint64_t> ch(8, "stress");
  constexpr uint64_t kPer = 50000;
  constexpr int kProducers = 4, kConsumers = 3;
  std::atomic<uint64_t> sum{0}, count{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      uint64_t s = 0, n = 0;
      while (auto v = ch.recv()) {
        s += *v;
        ++n;
      }
      sum += s;
      count += n;
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&ch, p] {
      for (uint64_t i = 1; i <= kPer; ++i) ASSERT_TRUE(ch.send(i + p * kPer));
    });
  }
  for (auto& t : producers) t.join();
  ch.close();
  for (auto& t : threads) t.join();
  const uint64_t n = kProducers * kPer;
  EXPECT_EQ(count.load(), n);
  EXPECT_EQ(sum.load(), n * (n + 1) / 2);
  EXPECT_EQ(ch.size(), 0u);
}

TEST(Channel, TryAndTimedForms) {
  lockaudit::channel<int> ch(2, "forms");
  EXPECT_EQ(ch.capacity(), 2u);
  EXPECT_FALSE(ch.try_recv().has_value());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(ch.recv_for(30ms).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  EXPECT_TRUE(ch.try_send(1));
  EXPECT_TRUE(ch.send_for(2, 10ms));
  EXPECT_FALSE(ch.try_send(3));  // full
  EXPECT_FALSE(ch.send_for(3, 20ms));
  EXPECT_FALSE(ch.closed());
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.recv().value(), 1);  // FIFO
  EXPECT_EQ(ch.recv().value(), 2);
}

TEST(Channel, CloseWakesWaitersAndDrains) {
  lockaudit::channel<int> full(1, "full");
  ASSERT_TRUE(full.send(1));
  std::atomic<int> sender_result{-1};
  std::thread sender([&] { sender_result = full.send(2) ? 1 : 0; });
  lockaudit::channel<int> empty(1, "empty");
  std::atomic<int> receiver_result{-1};
  std::thread receiver([&] { receiver_result = empty.recv().has_value() ? 1 : 0; });
  std::this_thread::sleep_for(50ms);
  full.close();
  empty.close();
  sender.join();
  receiver.join();
  EXPECT_EQ(sender_result.load(), 0);    // a waiting sender fails at close
  EXPECT_EQ(receiver_result.load(), 0);  // a waiting receiver gets nullopt
  EXPECT_EQ(full.recv().value(), 1);     // what was in stays receivable
  EXPECT_FALSE(full.recv().has_value());
  full.close();  // idempotent
}

TEST(Channel, MoveOnlyItemsAndAFailedSendKeepsTheItem) {
  lockaudit::channel<std::unique_ptr<std::string>> ch(1, "move_only");
  ASSERT_TRUE(ch.send(std::make_unique<std::string>("a")));
  auto b = std::make_unique<std::string>("b");
  EXPECT_FALSE(ch.try_send(std::move(b)));
  ASSERT_NE(b, nullptr);  // not taken
  ch.close();
  EXPECT_FALSE(ch.send(std::move(b)));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(*ch.recv().value(), "a");
}

struct Throwing {
  int v;
  explicit Throwing(int x) : v(x) {}
  Throwing(const Throwing& o) : v(o.v) {
    if (o.v < 0) throw std::runtime_error("copy");
  }
  Throwing(Throwing&& o) noexcept : v(o.v) {}
};

TEST(Channel, AThrowingCopyLeavesTheChannelUsable) {
  lockaudit::channel<Throwing> ch(2, "throwing");
  const Throwing bad(-1), good(5);
  EXPECT_THROW((void)ch.send(bad), std::runtime_error);
  EXPECT_EQ(ch.size(), 0u);
  EXPECT_TRUE(ch.send(good));
  EXPECT_EQ(ch.recv()->v, 5);
}

TEST(Channel, ItemsLeftAreDestroyedWithTheChannel) {
  auto counter = std::make_shared<int>(0);
  {
    lockaudit::channel<std::shared_ptr<int>> ch(4, "owned");
    ASSERT_TRUE(ch.send(counter));
    ASSERT_TRUE(ch.send(counter));
    EXPECT_EQ(counter.use_count(), 3);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(ChannelFindings, SendOnClosedOncePerSite) {
  lockaudit::channel<int> ch(2, "closed_chan");
  ch.close();
  const size_t before = CountKind("send_on_closed");
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(ch.send(i));  // one site: one finding
  EXPECT_EQ(CountKind("send_on_closed") - before, Disabled() ? 0u : 1u);
}

TEST(ChannelFindings, LeakAtDestroy) {
  const size_t before = CountKind("channel_leak");
  {
    lockaudit::channel<int> ch(4, "leaky");
    ASSERT_TRUE(ch.send(1));
  }
  {
    lockaudit::channel<int> ch(4, "drained");
    ASSERT_TRUE(ch.send(1));
    ASSERT_TRUE(ch.recv().has_value());
  }
  EXPECT_EQ(CountKind("channel_leak") - before, Disabled() ? 0u : 1u);
  if (Disabled()) return;
  bool named = false;
  for (const lockaudit::Finding& f : lockaudit::findings()) {
    named |= f.kind == "channel_leak" && f.json.find("\"name\":\"leaky\"") != std::string::npos;
  }
  EXPECT_TRUE(named);
}

TEST(ChannelFindings, AnUnnamedChannelIsNamedByWhereItWasCreated) {
  const size_t before = CountKind("channel_leak");
  {
    lockaudit::channel<int> unnamed(2);  // destroyed with an item: names itself, must not hang
    ASSERT_TRUE(unnamed.send(1));
  }
  EXPECT_EQ(CountKind("channel_leak") - before, Disabled() ? 0u : 1u);
  if (Disabled()) return;
  bool named = false;
  for (const lockaudit::Finding& f : lockaudit::findings()) {
    named |= f.kind == "channel_leak" &&
             f.message.find("'channel@") != std::string::npos &&
             f.message.find("AnUnnamedChannelIsNamedByWhereItWasCreated_Test::TestBody") !=
                 std::string::npos &&
             f.message.find("channel_test.cc:") != std::string::npos;
  }
  EXPECT_TRUE(named);
}

TEST(ChannelFindings, StallReportsTheOtherSide) {
  // LOCKAUDIT_STALL_MS=200 (CMake): a sender waits 700 ms on a full channel whose receiver is
  // alive and asleep.
  lockaudit::channel<int> ch(1, "slow_consumer");
  ASSERT_TRUE(ch.send(0));
  std::thread consumer([&ch] {
    (void)ch.try_recv();  // takes the first item: it is a receiver
    std::this_thread::sleep_for(700ms);
    while (ch.recv()) {
    }
  });
  ASSERT_TRUE(ch.send(1));
  ASSERT_TRUE(ch.send(2));  // waits for the sleeping consumer
  ch.close();
  consumer.join();
  if (Disabled()) {
    EXPECT_EQ(CountKind("channel_stall"), 0u);
    return;
  }
  bool found = false;
  for (const lockaudit::Finding& f : lockaudit::findings()) {
    if (f.kind != "channel_stall" || f.message.find("slow_consumer") == std::string::npos) continue;
    found = true;
    EXPECT_NE(f.message.find("to send on"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("is running"), std::string::npos) << f.message;
  }
  EXPECT_TRUE(found);
}

}  // namespace
